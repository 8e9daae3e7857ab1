[{{ sprig_trim "  \t padded \n " }}][{{ sprig_trimAll "$" "$$5.00$" }}][{{ sprig_trimall "ab" "abcba" }}][{{ sprig_trimSuffix "-" "hello-" }}][{{ sprig_trimPrefix "-" "-hello" }}][{{ sprig_trimPrefix "x" "hello" }}]
{{ with secret "kv1/typed" }}[{{ sprig_trim .Data.spaced }}][{{ .Data.csv | sprig_trimAll " ," }}]{{ end }}
