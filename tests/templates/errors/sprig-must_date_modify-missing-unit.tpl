{{ sprig_must_date_modify "5" (sprig_now) }}
