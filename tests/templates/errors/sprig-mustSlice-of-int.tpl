{{ sprig_mustSlice 1 }}
