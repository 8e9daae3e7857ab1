{{ with secret "secret/app?version=1" }}{{ .Data.data.user }}/{{ .Data.data.pass }} v{{ .Data.metadata.version }}{{ end }}
