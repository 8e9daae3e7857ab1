{{ sprig_urlParse "" }}
{{ sprig_urlParse "http://[fe80::1%25en0]:8080/a+b?c=d+e#x%20y" }}
{{ sprig_urlParse "postgres://user@db:5432/app?sslmode=disable" }}
{{ sprig_urlParse "file:///etc/hosts" }}
{{ sprig_urlParse "//cdn.example.com/lib.js" }}
{{ sprig_urlJoin (sprig_urlParse "http://[fe80::1%25en0]:8080/a+b?c=d+e#x%20y") }} {{ sprig_urlJoin (sprig_urlParse "file:///etc/hosts") }} {{ sprig_urlJoin (sprig_urlParse "//cdn.example.com/lib.js") }}
{{ sprig_urlJoin (parseJSON `{"scheme":"http","host":"h","path":"/a?b#c","fragment":"f#g/h?i"}`) }} {{ sprig_urlJoin (parseJSON `{"scheme":"http","host":"h","userinfo":"u:p@ss"}`) }}
