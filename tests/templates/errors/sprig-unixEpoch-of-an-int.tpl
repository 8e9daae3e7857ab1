{{ sprig_unixEpoch 5 }}
