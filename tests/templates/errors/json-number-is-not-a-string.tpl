{{ with secret "kv1/typed" }}{{ .Data.port | toUpper }}{{ end }}
