{{ sprig_mustFirst (sprig_dict) }}
