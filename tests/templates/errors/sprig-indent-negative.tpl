{{ sprig_indent -1 "x" }}
