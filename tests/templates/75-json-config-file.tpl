{
{{- with secret "secret/app" }}
  "user": {{ .Data.data.user | toJSON }},
  "pass": "{{ .Data.data.pass }}",
  "version": {{ .Data.metadata.version }}
{{- end }}
}
