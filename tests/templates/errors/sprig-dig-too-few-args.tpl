{{ sprig_dig "a" (sprig_dict) }}
