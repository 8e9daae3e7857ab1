{{ $d := sprig_dict "a" 1 }}{{ $_ := sprig_set $d "x" 9 }}{{ $d }} {{ sprig_set $d "a" "over" }} {{ sprig_unset $d "a" }} {{ $d }} {{ sprig_unset $d "missing" }}
{{ $e := $d }}{{ $_ := sprig_set $e "shared" true }}{{ $d }}
