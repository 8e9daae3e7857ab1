{{ with secret "/secret/app/" }}{{ .Data.data.user }}{{ end }} {{ with secret "secret/data/app" }}{{ .Data.data.user }}{{ end }} {{ range secrets "kv1/nothing/" }}x{{ else }}none{{ end }}
