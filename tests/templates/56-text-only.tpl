no actions here
windows line
	unicode: ✓ ß 日本
