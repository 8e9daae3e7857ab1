{{ $u := sprig_urlParse "https://alice:p%40ss@Example.com:8443/a%20b/c?x=1&y=two#frag%21" }}{{ range $k, $v := $u }}{{ $k }}=[{{ $v }}]
{{ end }}{{ sprig_urlParse "http://localhost" }}
{{ sprig_urlParse "mailto:someone@example.com" }}
{{ sprig_urlParse "/relative/path?q" }}
{{ sprig_urlParse "HTTP://[::1]:80/x" }}
