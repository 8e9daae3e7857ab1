{{ indent (parseInt "2") "x" }}
