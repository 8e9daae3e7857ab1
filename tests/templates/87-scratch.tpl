{{ scratch.Set "a" "first" }}{{ scratch.SetX "a" "ignored" }}{{ scratch.SetX "b" 2 }}[{{ scratch.Get "a" }} {{ scratch.Get "b" }} {{ scratch.Get "nope" }}]
{{ scratch.Key "a" }} {{ scratch.Key "nope" }}
{{ scratch.MapSet "m" "z" 1 }}{{ scratch.MapSet "m" "a" "x" }}{{ scratch.MapSetX "m" "a" "kept?" }}{{ scratch.MapSet "m" "k" true }}{{ scratch.MapValues "m" }} {{ scratch.MapValues "a" }} {{ scratch.MapValues "none" }}
{{ scratch.Get "m" }}
{{ with secret "kv1/typed" }}{{ range $k, $v := .Data }}{{ if eq $k "port" "ratio" "tags" }}{{ scratch.MapSet "typed" $k $v }}{{ end }}{{ end }}{{ end }}{{ scratch.MapValues "typed" }}
{{ range $i := loop 3 }}{{ scratch.Set "last" $i }}{{ end }}{{ scratch.Get "last" }}
{{ $s := scratch }}{{ $s.Set "v" "via var" }}{{ $s.Get "v" }} {{ "piped" | scratch.Set "p" }}{{ scratch.Get "p" }}
