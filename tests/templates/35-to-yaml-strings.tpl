{{ with secret "secret/app" }}{{ .Data.data | toYAML }}{{ end }}
---
{{ split "," "true,no,1.5,plain,a: b,-x,#c, lead,null,~,0x1F" | toYAML }}
