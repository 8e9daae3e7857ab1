{{- with secret "secret/app" -}}
{{ range $k, $v := .Data.data }}export {{ $k }}="{{ $v }}"
{{ end }}
{{- end }}
