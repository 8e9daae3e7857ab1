{{ sprig_sha1sum "hello" }}
{{ sprig_sha256sum "hello" }}
{{ sprig_adler32sum "hello" }} {{ sprig_adler32sum "" }} {{ sprig_sha1sum "" }}
{{ with secret "secret/app" }}{{ sprig_sha256sum .Data.data.pass }}{{ end }}
