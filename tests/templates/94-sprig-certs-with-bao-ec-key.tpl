{{ $k := `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIG4Xfs9USlRI/rE27M+g26D9PioHAbCWGKC/2bpYJvb4oAoGCCqGSM49
AwEHoUQDQgAECuYI+uguESYHIz0lBvHcEkOJCht1+HKg9ITpr0dO/RrJVBQ8fNAn
uIxt0XgaunaqJJEnpwMOHv0EfsEC5jHSMA==
-----END EC PRIVATE KEY-----
` }}{{ $c := sprig_genSelfSignedCertWithKey "ec" (sprig_list "192.0.2.1") nil 3 $k }}{{ eq $c.Key $k }} {{ slice $c.Cert 0 28 }} {{ len $k }}
