{{ sprig_mustReverse true }}
