{{ sprig_seq 1 "2" }}
