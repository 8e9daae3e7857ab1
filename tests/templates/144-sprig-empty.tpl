{{ sprig_empty "" }} {{ sprig_empty 0 }} {{ sprig_empty 0.0 }} {{ sprig_empty false }} {{ sprig_empty nil }} {{ sprig_empty "x" }} {{ sprig_empty 1 }} {{ sprig_empty (sprig_splitList "," "") }}
{{ with secret "kv1/typed" }}{{ sprig_empty .Data.empty }} {{ sprig_empty .Data.zero }} {{ sprig_empty .Data.nested }} {{ sprig_empty .Data.nested.n }} {{ sprig_empty .Data.missing }}{{ end }}
