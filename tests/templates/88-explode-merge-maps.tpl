{{ with secret "kv1/cfg" }}{{ explodeMap .Data }}{{ end }}
{{ $flat := parseJSON `{"a/b/c": 1, "a/b/d": "x", "a/e": true, "top": "t", "z/": "slash", "/lead": "l"}` }}{{ explodeMap $flat }}
{{ explodeMap $flat | toJSON }}
{{ $dst := parseJSON `{"a": 1, "nested": {"x": "dst", "only_dst": 1}, "empty": "", "list": [1]}` }}{{ $src := parseJSON `{"a": 2, "b": 3, "nested": {"x": "src", "only_src": 2}, "empty": "filled", "list": [2, 3]}` }}
{{ mergeMap $dst $src }}
{{ $dst2 := parseJSON `{"a": 1, "nested": {"x": "dst", "only_dst": 1}, "empty": "", "list": [1]}` }}{{ mergeMapWithOverride $dst2 $src }}
{{ with secret "kv1/typed" }}{{ mergeMap .Data.nested $src | toJSON }}{{ end }}
{{ mergeMap (parseJSON `{"a": {"keep": 1}}`) (explodeMap $flat) }}
