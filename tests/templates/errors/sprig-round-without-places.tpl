{{ sprig_round 1.5 }}
