{{ sprig_mustHas 1 "abc" }}
