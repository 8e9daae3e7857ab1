{{ $y := parseYAML "a: 1\nb:\n  - x\n  - y\nc: text\n" }}{{ $y.a }} {{ $y.b }} {{ $y.c }} {{ index $y.b 0 }}
