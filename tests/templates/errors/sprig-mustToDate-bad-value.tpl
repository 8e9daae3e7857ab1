{{ sprig_mustToDate "2006-01-02" "2024-13-01" }}
