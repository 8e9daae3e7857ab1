{{ sprig_splitList "," "a,b,,c" }} {{ len (sprig_splitList "," "") }} {{ sprig_splitList "" "héllo" }}
[{{ sprig_join "-" (sprig_splitList "," "a,b,c") }}][{{ sprig_join ", " (secret "kv1/typed").Data.hosts }}][{{ sprig_join "+" 42 }}][{{ sprig_join "," nil }}]
{{ with secret "kv1/typed" }}[{{ sprig_join "|" .Data.list_of_maps }}][{{ sprig_join "/" .Data.b }}]{{ end }}
