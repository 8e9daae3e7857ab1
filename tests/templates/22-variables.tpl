{{ $s := secret "kv1/cfg" }}{{ $c := "unset" }}{{ with $s }}{{ $c = .Data.color }}{{ end }}{{ $c }} {{ $s.Data.size }} {{ range $i, $x := split "," "a,b" }}{{ $c = $x }}{{ end }}{{ $c }} {{ $ }}
