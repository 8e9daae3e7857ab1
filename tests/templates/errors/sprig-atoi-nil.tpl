{{ sprig_atoi nil }}
