{{ with secret "kv1/yaml" }}{{ .Data | toYAML }}{{ end }}
