{{ sprig_mustToPrettyJson (sprig_float64 "+Inf") }}
