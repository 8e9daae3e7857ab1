{{ with secret "kv1/cfg" }}{{ .Data.nope }}{{ end }}
