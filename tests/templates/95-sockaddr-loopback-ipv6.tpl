{{ range $a := split "," "address,string,network,netmask,first_usable,last_usable,size,mask_bits,hex,octets,type,uint128" -}}
{{ $a }}=[{{ sockaddr (printf "GetAllInterfaces | include `name` `^lo$` | include `type` `IPv6` | attr `%s`" $a) }}]
{{ end -}}
