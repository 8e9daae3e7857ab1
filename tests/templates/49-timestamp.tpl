{{ timestamp "2006" | len }} {{ timestamp | len }} {{ timestamp "unix" | len }}
