{{ sprig_repeat -1 "x" }}
