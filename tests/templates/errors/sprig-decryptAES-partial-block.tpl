{{ sprig_decryptAES "k" "MDEyMzQ1Njc4OWFiY2RlZjAxMjM=" }}
