{{ sprig_chunk 0 (sprig_list 1) }}
