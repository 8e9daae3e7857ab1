{{ with secret "kv1/typed" }}{{ toLower .Data.upper }} {{ toUpper .Data.upper }} {{ toTitle .Data.unicode }} {{ toUpper .Data.unicode }}{{ end }} {{ toTitle "hello-world foo_bar it's" }}
