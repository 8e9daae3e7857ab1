{{ with secret "kv1/typed" }}[{{ .Data.spaced | trimSpace }}] [{{ trim " pd" .Data.spaced }}] [{{ trimPrefix "  " .Data.spaced }}] [{{ trimSuffix "ed  " .Data.spaced }}]{{ end }}
