{{ sprig_genSignedCert "x" nil nil 1 "ca" }}
