{{ len "héllo" }} {{ with secret "kv1/typed" }}{{ len .Data.hosts }} {{ len .Data }} {{ slice .Data.hosts 1 }} {{ slice .Data.hosts 0 2 }}{{ end }} {{ slice "abcdef" 1 3 }} {{ slice "abc" 1 }}
