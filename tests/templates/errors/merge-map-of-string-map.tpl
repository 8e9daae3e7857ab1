{{ mergeMap (splitToMap "a=1" "," "=") (parseJSON `{}`) }}
