{{ sprig_splitn "$" 2 "foo$bar$baz" }}
{{ sprig_splitn "," 0 "a,b" }} {{ sprig_splitn "," -1 "a,b,c" }} {{ sprig_splitn "," 5 "a,b" }}
{{ sprig_splitn "" 2 "xyz" }} {{ (sprig_splitn ":" 2 "user:pa:ss")._1 }}
