[[ with secret "secret/app" ]][[ .Data.data.user ]] {{ not a template }} [[- " trimmed" ]][[ end ]]
