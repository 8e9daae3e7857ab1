[{{ sprig_regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}][{{ sprig_mustRegexReplaceAllLiteral "\\." "a.b.c" "$0" }}][{{ sprig_regexReplaceAllLiteral "" "abc" "-" }}]
