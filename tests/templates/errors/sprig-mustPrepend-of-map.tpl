{{ sprig_mustPrepend (sprig_dict) 1 }}
