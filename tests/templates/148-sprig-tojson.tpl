{{ with secret "kv1/typed" }}{{ sprig_toJson .Data }}
{{ sprig_toJson .Data.html }} {{ sprig_mustToJson .Data.hosts }}{{ end }}
{{ sprig_toJson "<a&b>" }} {{ sprig_toJson nil }} {{ sprig_toJson 1.5 }} {{ sprig_toJson (sprig_splitList "," "x,y") }} {{ sprig_toJson 1e21 }}
