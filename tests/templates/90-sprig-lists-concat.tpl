{{ sprig_concat (sprig_list 1) (split "," "a,b") (sprig_list) (sprig_list (sprig_list 2)) }} {{ sprig_concat }} {{ sprig_concat (sprig_list) }} {{ printf "%T" (sprig_concat (split "," "a")) }}
