{{ sockaddr "GetNothing" }}
