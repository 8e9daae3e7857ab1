{{ sprig_dateModify "1h" "2020-01-01" }}
