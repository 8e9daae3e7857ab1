{{ range loop 3 }}{{ . }}{{ end }} {{ range $i := loop 2 5 }}{{ $i }}{{ end }} {{ splitToMap "," "=" "a=1,b=2,c" }}
