{{ sprig_genSelfSignedCert "x" (sprig_list 5) nil 1 }}
