{{ $l := sprig_list 1 2 3 }}{{ sprig_rest $l }} {{ sprig_initial $l }} {{ sprig_mustRest (sprig_list 1) }} {{ sprig_mustInitial (split "," "a,b") }}
{{ sprig_rest (sprig_list) }} {{ sprig_initial (sprig_list) }} {{ printf "%T %T" (sprig_rest (sprig_list)) (sprig_rest (split "," "a,b")) }}
