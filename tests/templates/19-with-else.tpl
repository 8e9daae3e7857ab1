{{ with secret "kv1/typed" }}{{ with .Data.empty }}x{{ else }}empty{{ end }} {{ with .Data.nested }}{{ .x }}{{ end }} {{ with $h := .Data.hosts }}{{ len $h }}{{ end }}{{ end }}
{{ with "" }}a{{ else with "b" }}{{ . }}{{ end }}
