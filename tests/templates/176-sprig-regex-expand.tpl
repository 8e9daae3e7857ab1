[{{ sprig_regexReplaceAll "(a)(b)?" "ab a" "[$1|$2|$3|$0|$ x|${1}x|$1x|${unclosed|$$|$|${}|${-}|${a b}]" }}]
[{{ sprig_regexReplaceAll "(?P<first>\\w)(?P<second>\\w)" "xy" "${second}${first}-$second_-$first1-${first}1" }}]
[{{ regexReplaceAll "(a)" "<$1$ ${1}1>" "bab" }}]
