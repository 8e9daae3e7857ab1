{{ sockaddr "GetAllInterfaces | sort `speed` | attr `address`" }}
