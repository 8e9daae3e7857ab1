app:
{{- with secret "kv1/typed" }}
  port: {{ .Data.port }}
  hosts:
{{- range .Data.hosts }}
    - {{ . }}
{{- end }}
  nested:
{{ .Data.nested | toYAML | indent 4 }}
{{- end }}
