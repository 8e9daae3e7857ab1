{{ sprig_bcrypt 5 }}
