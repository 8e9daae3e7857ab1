[{{ plugin "echo" "  spaced  " "" "b" }}]
[{{ plugin "" "ignored" }}]
[{{ plugin "printf" "%s|%s\n\n" "x" "y" }}]
[{{ plugin "sh" "-c" "printf '  lead and trail \n\n'" }}]
{{ with secret "kv1/cfg" }}{{ plugin "echo" .Data.color "and" .Data.size }}{{ end }}
{{ "piped last" | plugin "echo" "first" }}
