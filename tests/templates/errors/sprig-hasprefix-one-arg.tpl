{{ sprig_hasPrefix "a" }}
