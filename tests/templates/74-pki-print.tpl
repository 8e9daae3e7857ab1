{{ with pkiCert "pki/issue/web" "common_name=c.example.com" "ttl=1h" }}{{ printf "%T" . }} {{ .Data.Key | len | lt 100 }}{{ end }}
