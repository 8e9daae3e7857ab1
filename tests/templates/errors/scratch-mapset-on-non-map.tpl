{{ scratch.Set "s" "str" }}{{ scratch.MapSet "s" "k" "v" }}
