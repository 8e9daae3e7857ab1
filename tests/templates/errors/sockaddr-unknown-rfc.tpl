{{ sockaddr "GetAllInterfaces | include `rfc` `42` | attr `address`" }}
