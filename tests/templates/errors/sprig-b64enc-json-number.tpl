{{ with secret "kv1/typed" }}{{ sprig_b64enc .Data.port }}{{ end }}
