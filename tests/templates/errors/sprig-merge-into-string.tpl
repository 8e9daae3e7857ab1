{{ sprig_merge "x" (sprig_dict) }}
