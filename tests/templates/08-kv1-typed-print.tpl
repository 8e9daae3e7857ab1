{{ with secret "kv1/typed" -}}
port={{ .Data.port }}
ratio={{ .Data.ratio }}
enabled={{ .Data.enabled }}
hosts={{ .Data.hosts }}
nested={{ .Data.nested }}
empty=[{{ .Data.empty }}]
big={{ .Data.big }}
neg={{ .Data.neg }}
list_of_maps={{ .Data.list_of_maps }}
{{ end }}