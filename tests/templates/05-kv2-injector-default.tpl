{{ with secret "secret/app" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}
{{ end }}{{ end }}