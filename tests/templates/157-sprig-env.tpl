[{{ sprig_env "KAGI_TPL_TEST" }}][{{ sprig_env "KAGI_TPL_UNSET" }}][{{ "KAGI_TPL_TEST" | sprig_env | sprig_upper }}]
