{{ plugin "no-such-plugin-kagi" }}
