{{ $j := sprig_fromJson `{"a":1,"b":[true,null,"x"],"c":{"d":1.5e3}}` }}{{ $j }} {{ sprig_typeOf $j.a }} {{ $j.c.d }}
[{{ sprig_fromJson "not json" }}][{{ sprig_fromJson "" }}][{{ sprig_fromJson "42" }}][{{ sprig_fromJson `"s"` }}][{{ sprig_fromJson "null" }}]
{{ sprig_mustFromJson `[1,2,{"k":"v"}]` }}
