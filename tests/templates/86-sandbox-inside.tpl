{{ file "@@DIR@@/payload.json" }}|{{ file "@@DIR@@/errors/../typed.json" | len }}
