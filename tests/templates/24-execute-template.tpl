{{ define "greet" }}hello {{ . }}{{ end }}{{ executeTemplate "greet" "world" | toUpper }} [{{ executeTemplate "greet" }}]
