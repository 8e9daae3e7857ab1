{{ with secret "secret/app" -}}
version={{ .Data.metadata.version }}
destroyed={{ .Data.metadata.destroyed }}
deletion=[{{ .Data.metadata.deletion_time }}]
custom={{ .Data.metadata.custom_metadata }}
{{- end }}
