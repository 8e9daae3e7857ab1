{{ sprig_urlJoin (parseJSON `{"host":1}`) }}
