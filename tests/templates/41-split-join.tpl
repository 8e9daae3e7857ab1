{{ with secret "kv1/typed" }}{{ .Data.csv | split "," }} {{ .Data.csv | split "," | join ";" }} {{ len (split "," .Data.csv) }}{{ end }} {{ split "" "abc" }} {{ split "," "" }}
