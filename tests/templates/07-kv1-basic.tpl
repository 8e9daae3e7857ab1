{{ with secret "kv1/cfg" }}color={{ .Data.color }} size={{ .Data.size }} lease={{ .LeaseDuration }} renewable={{ .Renewable }} id=[{{ .LeaseID }}] warnings={{ .Warnings }}{{ end }}
