{{ $l := sprig_list 1 2 }}{{ sprig_append $l 3 }} {{ sprig_push (split "," "a,b") "c" }} {{ sprig_mustAppend (sprig_list) nil }} {{ sprig_mustPush $l (sprig_list 9) }} {{ $l }}
{{ sprig_prepend $l 0 }} {{ sprig_mustPrepend (split "," "b") "a" }} {{ printf "%T" (sprig_append (split "," "a") "b") }}
