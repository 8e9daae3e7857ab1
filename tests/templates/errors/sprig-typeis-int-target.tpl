{{ sprig_typeIs 1 1 }}
