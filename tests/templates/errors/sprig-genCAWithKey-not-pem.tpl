{{ sprig_genCAWithKey "x" 1 "not a key" }}
