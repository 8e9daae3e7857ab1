{{ file "@@DIR@@/errors/../payload.json" }}
