{{ sprig_mustRegexFindAll "[z-a]" "x" -1 }}
