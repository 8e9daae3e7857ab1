{{ sprig_mustDeepCopy nil }}
