{{ sockaddr "include `name` `lo`" }}
