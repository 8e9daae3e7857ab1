{{ sprig_randInt 5 5 }}
