{{ printf "%d %v %.2f %T" (sprig_add 1 2) (sprig_divf 1 3) (sprig_mulf 1.005 100) (sprig_ceil 1) }} {{ printf "%v" (sprig_until 3) }} {{ printf "%q" (sprig_seq 3) }}
{{ eq (sprig_add 1 2) 3 }} {{ lt (sprig_max 1 5) 6 }} {{ eq (sprig_maxf 1 2) 2.0 }} {{ if sprig_sub 1 1 }}nonzero{{ else }}zero{{ end }} {{ index (sprig_until 5) 3 }}
