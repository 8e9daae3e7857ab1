{{ $d := sprig_dict "a" 1 "b" 2 "c" 3 }}{{ sprig_pick $d "a" "c" "z" }} {{ sprig_omit $d "a" "z" }} {{ sprig_pick $d }} {{ sprig_omit $d }} {{ $d }}
