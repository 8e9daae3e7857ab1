{{ with secret "kv1/cfg" }}{{ .Data.nope.deeper }}{{ end }}
