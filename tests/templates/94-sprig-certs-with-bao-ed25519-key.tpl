{{ $k := `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIFIv8OUKKd/c5leV6W+/lEh+9gIak3NSOelr5HRt+C0X
-----END PRIVATE KEY-----
` }}{{ $ca := sprig_genCAWithKey "ed-ca" 30 $k }}{{ eq $ca.Key $k }} {{ $c := sprig_genSignedCert "leaf" nil nil 1 $ca }}{{ slice $c.Cert 0 27 }} {{ len $k }}
