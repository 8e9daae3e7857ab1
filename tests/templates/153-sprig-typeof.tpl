{{ sprig_typeOf 1 }} {{ sprig_typeOf 1.5 }} {{ sprig_typeOf "s" }} {{ sprig_typeOf true }} {{ sprig_typeOf nil }} {{ sprig_typeOf (sprig_splitList "," "a") }} {{ sprig_typeOf (splitToMap "a=1" "," "=") }} {{ sprig_typeOf (parseInt "1") }}
{{ with secret "kv1/typed" }}{{ sprig_typeOf .Data }} {{ sprig_typeOf .Data.port }} {{ sprig_typeOf .Data.hosts }} {{ sprig_typeOf .Data.nested.n }}{{ end }}
{{ sprig_typeOf (secret "kv1/typed") }}
