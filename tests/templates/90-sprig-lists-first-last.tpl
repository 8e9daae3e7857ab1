{{ $l := sprig_list "one" 2 3.5 }}{{ sprig_first $l }} {{ sprig_last $l }} {{ sprig_mustFirst (split "/" "x/y") }} {{ sprig_mustLast (split "/" "x/y") }}
[{{ sprig_first (sprig_list) }}] [{{ sprig_last (sprig_list) }}] {{ printf "%v %T" (sprig_first (sprig_list)) (sprig_last (sprig_list)) }}
