{{ sprig_urlJoin (sprig_urlParse "https://u:p@example.com:8443/a%20b?x=1#f") }}
{{ sprig_urlJoin (sprig_urlParse "mailto:a@b.c") }}
{{ sprig_urlJoin (sprig_urlParse "/just/a path") }}
{{ sprig_urlJoin (parseJSON `{"scheme":"https","host":"h.example","path":"/p q/r","query":"a=b","fragment":"x y","userinfo":"me"}`) }}
{{ sprig_urlJoin (parseJSON `{"host":"h","path":"rel"}`) }}|{{ sprig_urlJoin (parseJSON `{}`) }}|{{ sprig_urlJoin (parseJSON `{"path":"a:b"}`) }}
