{{ sprig_divf 1 0 }}
