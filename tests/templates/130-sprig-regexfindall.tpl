{{ sprig_regexFindAll "[2,4,6,8]" "123456789" -1 }} {{ sprig_regexFindAll "[2,4,6,8]" "123456789" 2 }} {{ sprig_regexFindAll "x" "abc" -1 }} {{ sprig_regexFindAll "a" "aaa" 0 }} {{ sprig_typeOf (sprig_regexFindAll "a" "a" -1) }}
{{ sprig_mustRegexFindAll "a*" "baaab" -1 }} {{ len (sprig_regexFindAll "" "abc" -1) }} {{ sprig_regexFindAll "(\\w+)=(\\w+)" "a=1 b=2" -1 }}
