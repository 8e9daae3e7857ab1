{{ sprig_until "3" }}
