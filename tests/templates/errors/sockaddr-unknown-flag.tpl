{{ sockaddr "GetAllInterfaces | include `flag` `shiny` | attr `address`" }}
