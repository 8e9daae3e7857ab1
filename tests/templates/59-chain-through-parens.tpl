{{ (secret "secret/app").Data.data.user }} {{ (secret "kv1/typed").Data.nested.deeper.k }} {{ with secret "kv1/cfg" }}{{ (.Data).color }}{{ end }}
