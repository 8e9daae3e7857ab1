{{ with secret "secret/app" }}{{ .Data.data }}{{ end }}
