{{ sprig_mustRegexReplaceAllLiteral "\\" "x" "y" }}
