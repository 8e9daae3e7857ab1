{{ with secret "kv1/typed" }}{{ $s := sprig_toStrings .Data.hosts }}{{ printf "%q" $s }} {{ sprig_typeOf $s }}
{{ printf "%q" (sprig_toStrings .Data.list_of_maps) }} {{ printf "%q" (sprig_toStrings .Data.port) }}{{ end }}
{{ printf "%q" (sprig_toStrings nil) }} {{ printf "%q" (sprig_toStrings (sprig_splitList "," "x,y")) }}
