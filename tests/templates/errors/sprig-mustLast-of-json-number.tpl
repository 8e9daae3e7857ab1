{{ with secret "kv1/typed" }}{{ sprig_mustLast .Data.port }}{{ end }}
