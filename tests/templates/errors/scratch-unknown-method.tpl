{{ scratch.Nope "k" }}
