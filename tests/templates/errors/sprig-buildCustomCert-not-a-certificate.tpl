{{ sprig_buildCustomCert "aGVsbG8=" "aGVsbG8=" }}
