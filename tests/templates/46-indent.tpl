{{ with secret "kv1/typed" }}{{ .Data.multi | indent 4 }}{{ end }}|{{ indent 2 "a\n\nb" }}|
