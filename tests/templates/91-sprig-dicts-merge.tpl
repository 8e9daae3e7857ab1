{{ sprig_merge (sprig_dict "a" "" "b" 1 "n" (sprig_dict "x" 1 "y" "")) (sprig_dict "a" "x" "b" 2 "c" 3 "n" (sprig_dict "y" 2 "z" 3)) }}
{{ sprig_merge (sprig_dict "l" (sprig_list 1) "s" "str" "e" (sprig_list)) (sprig_dict "l" (sprig_list 2) "s" (sprig_list 3) "e" (sprig_list 4) "m" (sprig_list 5)) }}
{{ sprig_merge (sprig_dict "m" "str" "z" 0 "f" false) (sprig_dict "m" (sprig_dict "z" 1) "z" 7 "f" true) (sprig_dict "w" 1) }} {{ sprig_merge (sprig_dict) }} {{ sprig_mustMerge (sprig_dict "a" 1) (sprig_dict "a" 2 "b" nil) }}
