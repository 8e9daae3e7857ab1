key:{{ sprig_nindent 2 "a: 1\nb: 2" }}
list:{{ "- x\n- y" | sprig_nindent 4 }}
[{{ sprig_nindent 0 "" }}]
