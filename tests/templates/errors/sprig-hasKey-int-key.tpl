{{ sprig_hasKey (sprig_dict) 1 }}
