[{{ sprig_atoi "42" }}][{{ sprig_atoi "-7" }}][{{ sprig_atoi "+3" }}][{{ sprig_atoi "0x10" }}][{{ sprig_atoi "1.5" }}][{{ sprig_atoi "" }}][{{ sprig_atoi "007" }}][{{ sprig_atoi "99999999999999999999" }}] {{ sprig_typeOf (sprig_atoi "1") }}
{{ with secret "kv1/typed" }}{{ add (sprig_atoi .Data.int_str) 1 }}{{ end }}
