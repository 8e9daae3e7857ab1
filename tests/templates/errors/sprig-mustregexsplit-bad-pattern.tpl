{{ sprig_mustRegexSplit ")" "x" -1 }}
