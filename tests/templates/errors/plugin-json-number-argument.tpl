{{ with secret "kv1/typed" }}{{ plugin "echo" .Data.port }}{{ end }}
