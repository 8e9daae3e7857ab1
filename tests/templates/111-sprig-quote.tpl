[{{ sprig_quote "a" "b c" }}][{{ sprig_quote 1 2.5 true nil "x" }}][{{ sprig_quote "tab\there \"q\" \\ é \x01" }}][{{ sprig_squote "a" 1 nil }}][{{ sprig_quote }}][{{ sprig_squote (split "," "a,b") }}]
{{ with secret "kv1/typed" }}[{{ sprig_quote .Data.port .Data.hosts .Data.nested }}][{{ sprig_squote .Data.multi }}]{{ end }}
