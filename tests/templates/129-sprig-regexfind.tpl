[{{ sprig_regexFind "[a-zA-Z][1-9]" "abcd1234" }}][{{ sprig_regexFind "z+" "abc" }}][{{ sprig_mustRegexFind "\\d+" "ab 12 34" }}][{{ sprig_regexFind "" "abc" }}]
