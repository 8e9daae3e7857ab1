{{ "denied ones are not called" | toUpper }} {{ sprig_lower "OK" }}
