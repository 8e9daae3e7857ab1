[{{ sprig_b32enc "hello world" }}][{{ sprig_b32enc "a" }}][{{ sprig_b32dec "NBSWY3DPEB3W64TMMQ======" }}][{{ sprig_b32dec "ME======" }}][{{ sprig_b32dec (sprig_b32enc "round trip") }}]
[{{ sprig_b32dec "ME" }}][{{ sprig_b32dec "M=======" }}][{{ sprig_b32dec "ME=====" }}][{{ sprig_b32dec "M1" }}][{{ sprig_b32dec "me======" }}][{{ sprig_b32dec "MEx=====" }}]
