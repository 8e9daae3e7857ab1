{{ sprig_hello "x" }}
