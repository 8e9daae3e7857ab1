{{ sprig_dig "a" 0 (sprig_list) }}
