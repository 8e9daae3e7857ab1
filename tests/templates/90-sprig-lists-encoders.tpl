{{ toJSON (sprig_list 1 2.5 "a" nil true (sprig_dict "k" (sprig_list))) }} {{ toJSONPretty (sprig_chunk 2 (sprig_list 1 2 3)) }}
{{ toYAML (sprig_dict "l" (sprig_list 1 "two" (sprig_list 3)) "e" (sprig_list) "d" (sprig_until 2)) }}
