{{ with secret "kv1/yaml" }}{{ .Data.list_in_list }} {{ .Data.maps_in_list }} {{ .Data.empty_map }} {{ .Data.empty_list }} {{ .Data.float_exp }} {{ .Data.small }}{{ end }}
