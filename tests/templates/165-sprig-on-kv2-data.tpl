{{ with secret "secret/app" }}{{ .Data.data.user | sprig_title }} {{ sprig_toJson .Data.data }} {{ sprig_b64enc .Data.data.pass }} {{ .Data.data.pass | sprig_sha1sum }} {{ sprig_adler32sum .Data.data.pass }}
{{ sprig_toPrettyJson .Data.metadata.custom_metadata }} {{ sprig_kindOf .Data.metadata.version }} {{ sprig_int .Data.metadata.version }} {{ sprig_default "none" .Data.metadata.deletion_time }} {{ sprig_empty .Data.metadata.destroyed }}
{{ range $k, $v := .Data.data }}{{ $k | sprig_snakecase }}={{ $v | sprig_quote }} {{ end }}{{ end }}
