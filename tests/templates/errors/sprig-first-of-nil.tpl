{{ sprig_first nil }}
