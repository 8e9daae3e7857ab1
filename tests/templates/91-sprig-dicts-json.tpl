{{ $d := sprig_dict "b" 1 "a" (sprig_list 1 "x" nil) "c" (sprig_dict "d" 1.5) }}{{ $_ := sprig_set $d "e" true }}{{ toJSON $d }} {{ toYAML $d }}
