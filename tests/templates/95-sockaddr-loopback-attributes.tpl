{{ range $a := split "," "address,string,host,network,netmask,broadcast,first_usable,last_usable,size,mask_bits,hex,binary,octets,port,type,uint32,name,flags,NAME" -}}
{{ $a }}={{ sockaddr (printf "GetAllInterfaces | include `name` `^lo$` | include `type` `ipv4` | attr `%s`" $a) }}
{{ end -}}
