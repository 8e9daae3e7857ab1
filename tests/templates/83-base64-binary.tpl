keystore:[{{ base64Decode "/wD+gAECA3/A" }}]
{{ with secret "kv1/typed" }}{{ .Data.b64 | base64Decode }}{{ end }}
{{ define "bin" }}{{ base64Decode . }}{{ end }}{{ executeTemplate "bin" "gIGCgw==" }} {{ len (base64Decode "gIGCgw==") }}
{{ base64URLDecode "_-8=" }}
