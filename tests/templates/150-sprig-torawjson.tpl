{{ with secret "kv1/typed" }}{{ sprig_toRawJson .Data.html }} {{ sprig_mustToRawJson .Data.nested }}{{ end }}
{{ sprig_toRawJson "<&> \u2028" }} {{ sprig_toRawJson (sprig_splitList "," "<,>") }}
