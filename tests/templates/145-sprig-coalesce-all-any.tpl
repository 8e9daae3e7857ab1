[{{ sprig_coalesce 0 "" nil "first" "second" }}][{{ sprig_coalesce 0 "" }}][{{ sprig_coalesce }}][{{ sprig_all 1 "a" true }}][{{ sprig_all 1 "" true }}][{{ sprig_all }}][{{ sprig_any 0 "" "x" }}][{{ sprig_any 0 false }}][{{ sprig_any }}]
{{ with secret "kv1/typed" }}[{{ sprig_coalesce .Data.empty .Data.missing .Data.hosts }}]{{ end }}
