{{ with secret "kv1/yaml" }}{{ range .Data.list_in_list }}[{{ sprig_join "," . }}|{{ sprig_compact . }}|{{ sprig_toStrings . }}]{{ end }}
{{ sprig_toJson .Data.maps_in_list }} {{ sprig_typeOf .Data.maps_in_list }} {{ sprig_kindOf (index .Data.maps_in_list 0) }}
{{ sprig_cat .Data.list_in_list .Data.maps_in_list }}{{ end }}
