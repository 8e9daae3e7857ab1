[{{ sprig_replace " " "-" "I Am Henry VIII" }}][{{ "aaa" | sprig_replace "a" "bb" }}][{{ sprig_replace "" "." "abc" }}][{{ sprig_replace "x" "" "xaxbx" }}]
[{{ sprig_plural "one anchovy" "many anchovies" 1 }}][{{ sprig_plural "one" "many" 0 }}][{{ sprig_plural "one" "many" 2 }}][{{ sprig_plural "one" "many" -1 }}][{{ len "abc" | sprig_plural "x" "y" }}]
