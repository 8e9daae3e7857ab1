{{ sprig_list 1 "a" 2.5 nil true (sprig_list 1 2) (sprig_dict "k" "v") }} {{ sprig_tuple "x" 2 }} {{ sprig_list }} {{ len (sprig_list 1 2 3) }}
{{ range $i, $e := sprig_list "a" "b" }}{{ $i }}={{ $e }};{{ end }} {{ index (sprig_tuple 1 2 3) 1 }}
