{{ sprig_regexSplit "a" "banana" "1" }}
