{{ with secret "kv1/typed" }}{{ sprig_compact .Data.nested }}{{ end }}
