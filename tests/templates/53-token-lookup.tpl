{{ with secret "auth/token/lookup-self" }}{{ .Data.policies }} {{ .Data.display_name }} {{ .Data.ttl }}{{ end }}
