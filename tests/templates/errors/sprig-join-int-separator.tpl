{{ sprig_join 1 (sprig_splitList "," "a,b") }}
