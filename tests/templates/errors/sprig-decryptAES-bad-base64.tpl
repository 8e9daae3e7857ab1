{{ sprig_decryptAES "k" "not base64!" }}
