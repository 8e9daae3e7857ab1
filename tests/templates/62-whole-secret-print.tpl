{{ with secret "kv1/cfg" }}{{ .Data }} {{ .Warnings }} {{ .Auth }} {{ .WrapInfo }}{{ end }}
