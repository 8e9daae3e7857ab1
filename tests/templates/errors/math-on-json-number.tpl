{{ with secret "kv1/typed" }}{{ .Data.port | add 1 }}{{ end }}
