{{ with secret "kv1/typed" }}{{ sprig_upper .Data.port }}{{ end }}
