{{ $flat := parseJSON `{"a": "leaf", "a/b": "deeper"}` }}{{ explodeMap $flat }}
