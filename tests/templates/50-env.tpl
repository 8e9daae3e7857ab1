[{{ env "KAGI_TPL_TEST" }}] [{{ env "KAGI_TPL_UNSET" }}] [{{ envOrDefault "KAGI_TPL_UNSET" "dflt" }}] [{{ mustEnv "KAGI_TPL_TEST" }}]
