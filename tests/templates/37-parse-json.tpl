{{ with secret "secret/json" }}{{ $j := parseJSON .Data.data.payload }}{{ $j }} {{ $j.a }} {{ index $j.b 2 }} {{ $j.c.d }} {{ $j | toJSON }}{{ end }} {{ parseJSON "" }}
