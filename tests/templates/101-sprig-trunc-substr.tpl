[{{ sprig_trunc 5 "hello world" }}][{{ sprig_trunc -5 "hello world" }}][{{ sprig_trunc 0 "abc" }}][{{ sprig_trunc 50 "abc" }}][{{ sprig_trunc -50 "abc" }}]
[{{ sprig_substr 0 5 "hello world" }}][{{ sprig_substr 6 -1 "hello world" }}][{{ sprig_substr -1 3 "hello" }}][{{ sprig_substr 2 99 "hello" }}][{{ sprig_substr 2 2 "hello" }}]
