{{ with secret "kv1/typed" }}{{ sprig_deepCopy .Data.nested }} {{ sprig_mustDeepCopy .Data.hosts }} {{ sprig_typeOf (sprig_deepCopy .Data.port) }}{{ end }}
{{ sprig_deepCopy 1 }} {{ sprig_deepCopy "s" }} {{ sprig_deepCopy (sprig_splitList "," "a,b") }}
