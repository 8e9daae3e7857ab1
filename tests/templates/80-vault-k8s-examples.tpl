{{- with secret "secret/app" -}}
export APP_USER="{{ .Data.data.user }}"
export APP_PASS="{{ .Data.data.pass }}"
{{- end }}
{{ with secret "kv1/cfg" -}}
{{ .Data.color }}
{{- end }}
