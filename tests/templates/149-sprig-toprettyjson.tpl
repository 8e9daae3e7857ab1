{{ with secret "kv1/typed" }}{{ sprig_toPrettyJson .Data.nested }}
{{ sprig_mustToPrettyJson .Data.list_of_maps }}
{{ sprig_toPrettyJson .Data.html }}{{ end }}
{{ sprig_toPrettyJson (parseJSON "[]") }} {{ sprig_toPrettyJson (parseJSON "{}") }}
