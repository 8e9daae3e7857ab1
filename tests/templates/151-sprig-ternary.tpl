[{{ sprig_ternary "yes" "no" true }}][{{ sprig_ternary "yes" "no" false }}][{{ true | sprig_ternary 1 2 }}][{{ sprig_ternary (parseJSON "[1]") nil false }}][{{ eq 1 1 | sprig_ternary "eq" "ne" }}]
