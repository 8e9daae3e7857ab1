{{ sprig_set (sprig_list) "a" 1 }}
