{{ sprig_genSelfSignedCertWithKey "x" nil nil 1 "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" }}
