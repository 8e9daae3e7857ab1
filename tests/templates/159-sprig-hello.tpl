{{ sprig_hello }} {{ sprig_hello | sprig_upper }}
