{{ with secret "kv1/typed" }}{{ .Data.html | toUnescapedJSON }} {{ .Data.nested | toUnescapedJSONPretty }}{{ end }}
