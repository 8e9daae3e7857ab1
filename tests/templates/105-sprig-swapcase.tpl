[{{ sprig_swapcase "This Is A.Test" }}][{{ sprig_swapcase "hello WORLD foo_bar" }}][{{ sprig_swapcase "ÄöÜ ǆ ǅ" }}]
