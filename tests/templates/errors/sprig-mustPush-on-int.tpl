{{ sprig_mustPush 1 1 }}
