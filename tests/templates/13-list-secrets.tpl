{{ range secrets "secret/" }}{{ . }},{{ end }}
{{ secrets "secret/team" }}
{{ range $i, $k := secrets "kv1" }}{{ $i }}={{ $k }} {{ end }}
