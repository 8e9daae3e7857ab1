{{ sprig_trunc "3" "abcdef" }}
