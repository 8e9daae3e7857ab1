{{ with secret "kv1/ttl" }}{{ .Data.value }} {{ .LeaseDuration }} {{ .Data.ttl }}{{ end }}
