{{ sprig_reverse (sprig_list 1 "b" 3.5) }} {{ sprig_mustReverse (split "," "x,y,z") }} {{ sprig_reverse (sprig_list) }} {{ $l := sprig_list 1 2 }}{{ $r := sprig_reverse $l }}{{ $l }} {{ $r }}
