{{ sprig_regexFind "[a" "x" }}
