{{ sprig_abbrev (sprig_int64 5) "hello world" }}
