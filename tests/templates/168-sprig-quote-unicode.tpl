{{ sprig_quote "emoji 🎉" "nbsp\u00a0x" "bell\a" "del\u007f" "zero\u200bwidth" "c1\u0085" "bom\ufeff" "soft\u00adhyphen" "ls\u2028" "é" "\U0001F600" }}
{{ sprig_squote "it's" }} {{ sprig_quote (sprig_splitList "," "a,b") (parseJSON `{"k":"v"}`) }}
