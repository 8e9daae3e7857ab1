{{ $h := sprig_bcrypt "pw" }}{{ len $h }} {{ slice $h 0 7 }} {{ ne $h (sprig_bcrypt "pw") }} {{ $p := sprig_htpasswd "user" "pw" }}{{ len $p }} {{ slice $p 0 12 }} {{ sprig_htpasswd "a:b" "x" }}
