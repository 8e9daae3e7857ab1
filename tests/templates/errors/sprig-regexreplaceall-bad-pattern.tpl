{{ sprig_regexReplaceAll "(?P<" "x" "y" }}
