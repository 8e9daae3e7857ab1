{{ with secret "secret/app" }}{{ with .Data.data }}{{ .user }} [{{ $ }}]{{ end }}{{ end }}
