{{ sprig_get (splitToMap "a=1" "," "=") "a" }}
