{{ and 1 "x" }} {{ and 0 "x" }} {{ or "" "y" }} {{ or 0 "" }} {{ not "" }} {{ not 1 }} {{ and true true false }} {{ or false false true }}
