{{ print "a" 1 2 "b" true }}|{{ print 1 2 }}|{{ println "x" 3 }}|{{ print }}|{{ with secret "kv1/typed" }}{{ print .Data.hosts .Data.port }}{{ end }}
