{{ sprig_mustChunk 2 "abc" }}
