{{ with secret "kv1/typed" }}{{ .Data | toTOML }}{{ end }}
