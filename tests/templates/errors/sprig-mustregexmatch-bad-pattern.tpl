{{ sprig_mustRegexMatch "(" "x" }}
