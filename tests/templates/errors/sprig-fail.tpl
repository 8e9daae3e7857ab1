before {{ sprig_fail "stop here" }} after
