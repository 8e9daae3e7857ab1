{{ with secret "kv1/typed" }}{{ .Data | toYAML }}
---
{{ .Data.hosts | toYAML }}
---
{{ .Data.nested | toYAML }}{{ end }}
