{{ sprig_mustUniq 1.5 }}
