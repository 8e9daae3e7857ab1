{{ $t := sprig_toDate "2006-01-02 15:04:05" "2024-03-10 08:09:10" }}{{ $t }} {{ sprig_unixEpoch $t }} {{ printf "%T" $t }}
{{ sprig_toDate "2006-01-02" "nope" }} {{ sprig_toDate "2006-01-02T15:04:05Z07:00" "2023-07-01T23:59:59+05:30" }} {{ sprig_toDate "2006-01-02T15:04:05Z07:00" "2023-07-01T23:59:59Z" }}
{{ sprig_toDate "02 Jan 06 15:04 MST" "05 Feb 21 10:00 PST" }} {{ sprig_toDate "January 2, 2006" "march 3, 2020" }} {{ sprig_toDate "2006-01-02 15:04:05.000" "2020-01-01 00:00:00.123" }} {{ sprig_toDate "15:04:05" "12:34:56.789" }}
