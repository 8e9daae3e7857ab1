{{ with secret "secret/app" }}{{ .Data.data.user | writeToFile "@@OUT@@/side.txt" "" "" "0640" }}{{ .Data.data.pass | writeToFile "@@OUT@@/side-app.txt" "" "" "0600" "newline" }}done{{ end }}
