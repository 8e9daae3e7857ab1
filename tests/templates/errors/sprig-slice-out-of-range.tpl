{{ sprig_slice (sprig_list 1 2) 3 }}
