{{ sprig_mustCompact "abc" }}
