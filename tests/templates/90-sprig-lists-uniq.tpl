{{ sprig_uniq (sprig_list 1 1 "1" 2 1.0 1 (sprig_list 1) (sprig_list 1) nil nil true) }} {{ sprig_mustUniq (split "," "b,a,b,c,a") }} {{ sprig_uniq (sprig_list) }}
{{ sprig_uniq (sprig_list (sprig_dict "a" 1) (sprig_dict "a" 1) (sprig_dict "a" 2)) }}
