{{ sprig_buildCustomCert "%%%" "%%%" }}
