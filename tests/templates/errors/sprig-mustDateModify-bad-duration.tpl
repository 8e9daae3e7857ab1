{{ sprig_mustDateModify "1x" (sprig_toDate "2006" "2020") }}
