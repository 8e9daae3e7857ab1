{{/* Go ranges over a map in random order and spew does not sort keys here: every map dumped has one key. */}}{{ spew_sdump "hi" 5 1.5 true nil -3 "" "quote\"and\ttab" }}
{{ with secret "kv1/typed" }}{{ spew_sdump .Data.port .Data.ratio .Data.enabled .Data.hosts .Data.nested.deeper .Data.multi .Data.tags (parseJSON `[{"name": "a"}, {"v": 2}]`) }}{{ end }}
{{ spew_sdump (split "," "a,b,c") (splitToMap "k=v" "," "=") (parseJSON `{"one": [1, 2.5, "x", null, [], {}]}`) }}
{{ spew_sdump (parseInt "7") (parseUint "8") (parseFloat "1e21") }}
[{{ spew_dump "to stdout" }}{{ spew_printf "%s" "to stdout" }}]
{{ spew_sprintf "%s=%d %v %v" "a" 3 (split "," "x,y") 2.5 }}
