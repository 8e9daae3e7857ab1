{{ sprig_urlParse "http://%41/" }}
