{{ sprig_add 1 "2" "0x10" "010" 2.9 -2.9 true false nil "08" "1.0" " 3" "1e3" "abc" }} {{ sprig_add }} {{ sprig_add1 41 }} {{ sprig_sub 1 5 }} {{ sprig_mul 2 3 4 }} {{ sprig_mul 5 }} {{ sprig_div 7 2 }} {{ sprig_div -7 2 }} {{ sprig_mod -7 3 }} {{ sprig_mod 7 -3 }}
{{ printf "%T %T" (sprig_add 1 2) (sprig_add1 1) }} {{ sprig_add 1 2 | printf "%d" }}
