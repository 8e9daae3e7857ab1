{{ with secret "kv1/yaml" }}{{ .Data | toJSON }}
{{ .Data | toJSONPretty }}{{ end }}
{{ parseFloat "1e21" | toJSON }} {{ parseFloat "0.000001" | toJSON }} {{ parseFloat "123456789" | toJSON }} {{ parseFloat "123456789" }}
