{{ plugin "sleep" "45" }}
