{{ with secret "kv1/cfg" }}[{{ .Data.nope }}] [{{ print .Data.nope }}] [{{ .Data.nope | print }}] [{{ $x := .Data.nope }}{{ $x }}] [{{ if .Data.nope }}set{{ else }}unset{{ end }}]{{ end }}
