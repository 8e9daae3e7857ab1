[{{ sockaddr "GetAllInterfaces | include `name` `^lo$` | attr `address`" }}]
[{{ sockaddr "GetAllInterfaces | include \"name\" \"^lo$\" | include \"type\" \"ipv4\" | attr \"string\"" }}]
[{{ sockaddr "GetInterfaceIP" "\"lo\"" }}]
[{{ sockaddr "GetInterfaceIPs `^lo$`" }}]
