{{ sprig_substr 3 2 "hello" }}
