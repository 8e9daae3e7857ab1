{{ $l := sprig_list 1 2 3 4 }}{{ sprig_slice $l 1 3 }} {{ sprig_slice $l 2 }} {{ sprig_slice $l }} {{ sprig_slice $l 4 }} {{ sprig_slice $l 0 0 }}
{{ sprig_slice (sprig_list) 1 2 }} {{ sprig_mustSlice (split "," "a,b,c") "1" }} {{ sprig_slice (sprig_list 1 2 3) 1.9 }} {{ printf "%T %T" (sprig_slice (split "," "a,b") 1) (sprig_slice $l 1) }}
