{{ sockaddr "GetAllInterfaces | include `colour` `red` | attr `address`" }}
