{{ "exact names only" | sprig_upper }}
