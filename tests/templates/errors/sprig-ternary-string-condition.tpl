{{ sprig_ternary "a" "b" "true" }}
