{{ "hello wörld ß ǆ" | sprig_upper }}
{{ "HeLLo ÄÖ İ" | sprig_lower }}
[{{ sprig_repeat 3 "ab" }}|{{ sprig_repeat 0 "x" }}|{{ "-" | sprig_repeat 5 }}]
{{ sprig_toString 42 }} {{ sprig_toString 1.5 }} {{ sprig_toString 1e21 }} {{ sprig_toString true }} {{ sprig_toString nil }} {{ sprig_toString "s" }}
{{ with secret "kv1/typed" }}{{ sprig_toString .Data }}{{ end }}
{{ sprig_toString (split "," "a,b") }} {{ sprig_toString (splitToMap "a=1,b=2" "," "=") }}
{{ with secret "secret/app" }}{{ .Data.metadata.version | sprig_toString }} {{ .Data.data.user | sprig_upper }}{{ end }}
