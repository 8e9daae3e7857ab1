{{ range $t := sprig_list "maximum" "long" "medium" "short" "basic" "pin" }}{{ $t }}={{ sprig_derivePassword 3 $t "correct horse" "alice" "vault.example.com" }};{{ end }}
