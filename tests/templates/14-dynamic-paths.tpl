{{ range secrets "secret/team/" }}{{ with secret (printf "secret/team/%s" .) }}{{ .Data.data.k }};{{ end }}{{ end }}
