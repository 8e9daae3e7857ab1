{{ sprig_indent 4 "line1\nline2\n\nline4" }}
[{{ sprig_indent 0 "x\ny" }}]
{{ "a\nb" | sprig_indent 2 }}
{{ with secret "kv1/typed" }}{{ .Data.multi | sprig_indent 3 }}{{ end }}|
