{{ range $n := split "," "1,2,3,4" }}{{ if eq $n "1" }}one{{ else if eq $n "2" }}two{{ else if eq $n "3" }}three{{ else }}other{{ end }} {{ end }}
{{ if "" }}x{{ else }}empty-string-false{{ end }} {{ if 0 }}x{{ else }}zero-false{{ end }} {{ if (split "," "") }}x{{ else }}empty-list-false{{ end }}
