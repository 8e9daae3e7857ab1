{{ sprig_mustWithout (sprig_dict "a" 1) 1 }}
