{{ with secret "kv1/cfg" }}{{ .Data.color | nosuchfunction }}{{ end }}
