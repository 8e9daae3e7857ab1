{{ sprig_chunk 2 (sprig_list 1 2 3 4 5) }} {{ sprig_chunk 3 (sprig_list 1 2 3) }} {{ sprig_chunk 2 (sprig_list) }} {{ sprig_mustChunk 5 (split "," "a,b") }} {{ sprig_chunk -1 (sprig_list 1 2) }} {{ sprig_chunk 1 (sprig_list "x") }}
{{ range sprig_chunk 2 (sprig_list "a" "b" "c") }}{{ len . }}{{ end }}
