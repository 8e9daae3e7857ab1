{{ sprig_substr -1 10 "hello" }}
