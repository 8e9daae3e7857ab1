{{ sprig_concat (sprig_list 1) "x" }}
