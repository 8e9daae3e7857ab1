{{ sprig_mustRegexFindAll "a**" "x" -1 }}
