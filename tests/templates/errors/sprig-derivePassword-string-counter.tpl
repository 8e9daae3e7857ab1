{{ sprig_derivePassword "1" "long" "a" "b" "c" }}
