{{ sprig_maxf }}
