{{ sprig_split "$" "foo$bar$baz" }}
{{ $p := sprig_split "," "a,b,,c" }}{{ $p._0 }}|{{ $p._2 }}|{{ $p._3 }}|{{ len $p }}
{{ sprig_split "," "1,2,3,4,5,6,7,8,9,10,11" }}
{{ sprig_split "" "xyz" }} {{ sprig_split "," "" }}
