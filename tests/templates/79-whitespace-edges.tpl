{{- /* leading comment trimmed */ -}}


start
{{- if true }}
  inside
{{- end }}
{{ range split "," "a,b" -}}
  item={{ . }}
{{ end -}}
tail   	
{{- "" -}}
   
end
