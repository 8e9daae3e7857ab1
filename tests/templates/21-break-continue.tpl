{{ range $i, $e := split "," "a,b,c,d,e" }}{{ if eq $e "b" }}{{ continue }}{{ end }}{{ if eq $e "d" }}{{ break }}{{ end }}{{ $i }}{{ $e }} {{ end }}
