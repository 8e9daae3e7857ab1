[{{ sprig_cat "hello" "beautiful" "world" }}][{{ sprig_cat 1 nil 2.5 "" true }}][{{ sprig_cat }}][{{ sprig_cat nil }}][{{ "end" | sprig_cat "start" }}]
{{ with secret "kv1/typed" }}[{{ sprig_cat .Data.hosts .Data.nested .Data.ratio }}]{{ end }}
