{{ with pkiCert "pki/issue/web" "common_name=b.example.com" "ttl=1h" -}}
{{ .Cert | regexMatch "^-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE-----\n$" }}
{{ .Key | regexMatch "^-----BEGIN RSA PRIVATE KEY-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END RSA PRIVATE KEY-----\n$" }}
{{ .CA | regexMatch "^-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE-----\n$" }}
{{ eq .Data.Cert .Cert }} {{ .Data.CA | len | lt 100 }}
{{- end }}
