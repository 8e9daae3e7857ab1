{{ sprig_decryptAES "kagi-password" "EGWEgogZ+OuhrSnTCRN0pSQxsEjxq4HK+sIUnzrNVCM=" }}|{{ sprig_decryptAES "x" "" }}|{{ sprig_encryptAES "x" "" }}
