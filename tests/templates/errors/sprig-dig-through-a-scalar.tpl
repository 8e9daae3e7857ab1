{{ sprig_dig "a" "b" 0 (sprig_dict "a" 1) }}
