{{ sprig_float64 "1e21" }} {{ sprig_float64 "123456789" }} {{ sprig_float64 "0.000001" }} {{ sprig_float64 "-0" }} {{ printf "%.2f %T" (sprig_float64 "2.345") (sprig_float64 "1") }}
{{ sprig_int64 "0o17" }} {{ sprig_int "0B11" }} {{ sprig_int "0X1f" }} {{ sprig_int "-0" }} {{ sprig_int "+0x10" }} {{ sprig_int "0_1" }} {{ sprig_int "1__0" }} {{ sprig_int "08" }} {{ printf "%T %T" (sprig_int "1") (sprig_int64 "1") }}
{{ add (sprig_int64 "40") 2 }} {{ multiply (sprig_float64 "1.5") 2 }}
