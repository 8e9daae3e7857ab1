[{{ sprig_regexQuoteMeta "1.2.3" }}][{{ sprig_regexQuoteMeta "a+b*c?(d)|[e]{f}^$\\ #-&~" }}][{{ sprig_regexMatch (printf "^%s$" (sprig_regexQuoteMeta "a.b")) "a.b" }}]
