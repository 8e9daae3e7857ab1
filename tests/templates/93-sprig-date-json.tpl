{{ $t := sprig_toDate "2006-01-02T15:04:05Z07:00" "2023-07-01T23:59:59.5+05:30" }}{{ toJSON (sprig_dict "t" $t) }} {{ $t }} {{ sprig_list $t }}
