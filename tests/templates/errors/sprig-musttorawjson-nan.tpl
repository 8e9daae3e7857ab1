{{ sprig_mustToRawJson (sprig_float64 "nan") }}
