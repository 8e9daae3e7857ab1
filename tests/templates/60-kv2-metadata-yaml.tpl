{{ with secret "secret/app" }}{{ .Data.metadata | toYAML }}
{{ .Data.metadata | toJSON }}{{ end }}
