{{ len (sprig_randAlphaNum 12) }} {{ len (sprig_randAlpha 7) }} {{ len (sprig_randAscii 20) }} {{ len (sprig_randNumeric 5) }} {{ len (sprig_randAlpha 0) }} {{ len (sprig_randNumeric -2) }}
{{ sprig_regexMatch "^[0-9]{8}$" (sprig_randNumeric 8) }} {{ sprig_regexMatch "^[a-zA-Z]{9}$" (sprig_randAlpha 9) }} {{ sprig_regexMatch "^[a-zA-Z0-9]{30}$" (sprig_randAlphaNum 30) }}
