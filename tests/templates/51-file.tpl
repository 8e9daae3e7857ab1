{{ file "@@DIR@@/payload.json" }}|{{ file "@@DIR@@/payload.json" | parseJSON | toJSON }}
