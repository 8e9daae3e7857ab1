[{{ sprig_b64dec "abc" }}][{{ sprig_b64dec "ab=c" }}][{{ sprig_b64dec "a" }}][{{ sprig_b64dec "YQ=" }}][{{ sprig_b64dec "YQ==x" }}][{{ sprig_b64dec "a!bc" }}][{{ sprig_b64dec "aGk" }}]
