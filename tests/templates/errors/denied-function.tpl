{{ "x" | toUpper }}
