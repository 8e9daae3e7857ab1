{{ with secret "kv1/typed" }}{{ html .Data.html }}|{{ js .Data.html }}|{{ urlquery .Data.html }}|{{ .Data.html | html }}{{ end }}|{{ urlquery "a b&c=d/é" }}|{{ js "line\nquote'" }}
