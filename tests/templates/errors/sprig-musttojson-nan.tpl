{{ sprig_mustToJson (sprig_float64 "NaN") }}
