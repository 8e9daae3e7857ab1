{{ sprig_sortAlpha (sprig_splitList "," "pear,apple,Banana,cherry,apple") }}
{{ with secret "kv1/typed" }}{{ sprig_sortAlpha .Data.tags }} {{ sprig_sortAlpha .Data.nested }} {{ sprig_sortAlpha .Data.port }}{{ end }}
{{ sprig_sortAlpha "single" }} {{ sprig_sortAlpha nil }}
