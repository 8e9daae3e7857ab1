{{ sprig_mustInitial "ab" }}
