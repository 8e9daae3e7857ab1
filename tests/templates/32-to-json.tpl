{{ with secret "kv1/typed" }}{{ .Data | toJSON }}
{{ .Data.hosts | toJSON }}
{{ .Data.html | toJSON }}
{{ .Data.multi | toJSON }}{{ end }}
{{ with secret "secret/app" }}{{ .Data.data | toJSON }}{{ end }}
