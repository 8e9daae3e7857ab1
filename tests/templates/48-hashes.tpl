{{ sha256Hex "abc" }} {{ md5sum "abc" }} {{ with secret "secret/app" }}{{ .Data.data.user | sha256Hex }}{{ end }}
