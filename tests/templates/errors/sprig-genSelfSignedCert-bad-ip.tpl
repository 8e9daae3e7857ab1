{{ sprig_genSelfSignedCert "x" (sprig_list "300.1.1.1") nil 1 }}
