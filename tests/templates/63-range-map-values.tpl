{{ with secret "kv1/typed" }}{{ range $k, $v := .Data }}{{ $k }}{{ if $v }}+{{ else }}-{{ end }} {{ end }}{{ end }}
