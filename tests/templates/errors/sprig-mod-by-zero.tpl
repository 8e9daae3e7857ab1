{{ sprig_mod 1 "0" }}
