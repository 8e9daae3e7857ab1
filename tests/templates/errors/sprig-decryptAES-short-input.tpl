{{ sprig_decryptAES "k" "YWJj" }}
