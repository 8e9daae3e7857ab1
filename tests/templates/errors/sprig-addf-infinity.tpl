{{ sprig_addf 1 "inf" }}
