{{ sprig_deepCopy nil }}
