{{ sprig_mergeOverwrite (sprig_dict "a" "x" "b" 1 "n" (sprig_dict "x" 1 "k" 0)) (sprig_dict "a" "" "b" 0 "c" nil "n" (sprig_dict "x" 2)) }}
{{ sprig_mergeOverwrite (sprig_dict "l" (sprig_list 1) "s" "str" "m" (sprig_dict "q" 1)) (sprig_dict "l" (sprig_list 2) "s" (sprig_dict "z" 1) "m" "flat") }}
{{ sprig_mustMergeOverwrite (sprig_dict "a" 1 "n" nil) (sprig_dict "a" nil "n" (sprig_dict "x" 1)) (sprig_dict "a" 3) }}
