{{ sprig_date "2006-01-02 15:04:05" 0 }} {{ sprig_htmlDate 86400 }} {{ sprig_date "2006" -62135596800 }} {{ with secret "kv1/typed" }}{{ sprig_htmlDate (sprig_add .Data.big) }}{{ end }}
