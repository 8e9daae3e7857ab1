{{ $m := sprig_dict "a" 1 }}{{ $n := sprig_merge $m (sprig_dict "b" 2) }}{{ $m }} {{ $n }} {{ $_ := sprig_set $n "c" 3 }}{{ $m }}
{{ $inner := sprig_dict "x" 1 }}{{ $outer := sprig_dict "in" $inner }}{{ $_ := sprig_merge $outer (sprig_dict "in" (sprig_dict "y" 2)) }}{{ $inner }}
