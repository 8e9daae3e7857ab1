{{ with secret "secret/app" }}{{ .Data.data.user }}:{{ .Data.data.pass }}{{ end }}
