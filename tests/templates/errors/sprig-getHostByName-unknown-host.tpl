{{ sprig_getHostByName "no-such-host.invalid" }}
