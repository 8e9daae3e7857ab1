{{ file "@@DIR@@/payload.json" }}
