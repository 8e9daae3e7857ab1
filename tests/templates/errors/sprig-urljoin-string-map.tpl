{{ sprig_urlJoin (splitToMap "host=h" "," "=") }}
