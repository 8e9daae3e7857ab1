{{ with secret "kv1/yaml" }}{{ .Data | toTOML }}{{ end }}
