{{ $n := sprig_randInt 5 8 }}{{ if and (ge $n 5) (lt $n 8) }}in range{{ end }} {{ sprig_randInt 3 4 }} {{ sprig_randInt -2 -1 }} {{ printf "%T" (sprig_randInt 0 10) }}
