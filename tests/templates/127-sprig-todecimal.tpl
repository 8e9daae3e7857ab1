[{{ sprig_toDecimal "0777" }}][{{ sprig_toDecimal 777 }}][{{ sprig_toDecimal "8" }}][{{ sprig_toDecimal "-17" }}][{{ sprig_toDecimal 1.5 }}][{{ sprig_toDecimal "0o7" }}][{{ sprig_toDecimal true }}] {{ sprig_typeOf (sprig_toDecimal "1") }}
{{ with secret "kv1/typed" }}[{{ sprig_toDecimal .Data.num_str }}]{{ end }}
