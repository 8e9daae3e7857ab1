{{ sprig_mustFromJson "{\"a\":" }}
