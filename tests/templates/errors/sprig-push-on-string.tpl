{{ sprig_push "s" 1 }}
