[{{ sprig_b64enc "hello world" }}][{{ sprig_b64enc "" }}][{{ sprig_b64enc "é" }}][{{ sprig_b64dec "aGVsbG8gd29ybGQ=" }}][{{ sprig_b64dec "aGk=" | sprig_upper }}][{{ sprig_b64dec "aGVs\nbG8=" }}]
{{ with secret "kv1/typed" }}[{{ sprig_b64dec .Data.b64 }}]{{ end }}
