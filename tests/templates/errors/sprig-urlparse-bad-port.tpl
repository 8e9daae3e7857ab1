{{ sprig_urlParse "http://host:port/x" }}
