{{ sprig_regexFindAll "\\w+" "héllo wörld_1" -1 }} {{ sprig_regexFindAll "\\d" "1٣2" -1 }} {{ sprig_regexMatch "x\\b" "xé" }} {{ sprig_regexReplaceAll "\\s" "a b\u00a0c" "_" }}
{{ sprig_regexMatch "^\\Qa.b*\\E$" "a.b*" }} {{ sprig_regexFindAll "[[a]+" "x[a[y" -1 }} {{ sprig_regexFindAll "[a&&b]" "a&b" -1 }} {{ sprig_regexMatch "^x{y$" "x{y" }} {{ sprig_regexMatch "^[[:alpha:]]+$" "abc" }} {{ sprig_regexMatch "a**" "aa" }} {{ sprig_regexMatch "a{1001}" "a" }}
{{ regexReplaceAll "\\w+" "W" "héllo" }} {{ regexMatch "^\\d+$" "12" }}
