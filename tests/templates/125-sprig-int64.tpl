[{{ sprig_int64 "9223372036854775807" }}][{{ sprig_int64 "-9223372036854775808" }}][{{ sprig_int64 "9223372036854775808" }}][{{ sprig_int64 1e19 }}][{{ sprig_int64 2.5 }}][{{ sprig_int64 "-0x10" }}] {{ sprig_typeOf (sprig_int64 1) }}
{{ with secret "kv1/typed" }}[{{ sprig_int64 .Data.big }}][{{ sprig_int64 .Data.float_str }}]{{ end }}
