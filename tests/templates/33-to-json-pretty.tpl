{{ with secret "kv1/typed" }}{{ .Data.nested | toJSONPretty }}
{{ .Data.list_of_maps | toJSONPretty }}
{{ .Data.empty | toJSONPretty }}{{ end }}
