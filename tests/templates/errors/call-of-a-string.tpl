{{ call "not-a-function" }}
