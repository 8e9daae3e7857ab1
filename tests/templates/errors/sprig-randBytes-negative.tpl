{{ sprig_randBytes -1 }}
