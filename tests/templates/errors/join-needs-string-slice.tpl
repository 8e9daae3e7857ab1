{{ with secret "kv1/typed" }}{{ .Data.hosts | join "," }}{{ end }}
