{{ with secret "kv1/typed" }}{{ sprig_compact .Data.hosts }} {{ sprig_compact (parseJSON `[1,0,"",null,"x",false,[],{}]`) }} {{ sprig_compact (parseJSON "[]") }}{{ end }}
{{ sprig_compact (sprig_splitList "," "a,,b,,") }} {{ sprig_mustCompact (sprig_splitList "," ",") }} {{ sprig_typeOf (sprig_compact (sprig_splitList "," "a")) }}
