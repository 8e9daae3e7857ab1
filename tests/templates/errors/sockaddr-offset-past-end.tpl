{{ sockaddr "GetAllInterfaces | offset 100000 | attr `address`" }}
