{{ sprig_mustRest nil }}
