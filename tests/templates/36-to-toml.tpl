{{ with secret "kv1/typed" }}{{ .Data.nested | toTOML }}{{ end }}
---
{{ with secret "secret/app" }}{{ .Data.data | toTOML }}{{ end }}
