{{ $a := sprig_getHostByName "localhost" }}{{ or (eq $a "127.0.0.1") (eq $a "::1") }}
