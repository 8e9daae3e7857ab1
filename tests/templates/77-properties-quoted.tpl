{{ with secret "kv1/typed" -}}
{{ range $k, $v := .Data }}{{ if not (eq $k "list_of_maps" "nested" "hosts" "tags") }}{{ $k }}={{ printf "%q" (print $v) }}
{{ end }}{{ end }}
{{- end }}