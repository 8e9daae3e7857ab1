{{ "x" | sprig_upper }}
