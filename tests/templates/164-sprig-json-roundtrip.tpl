{{ $j := sprig_fromJson `{"z":[1,2.5,1e21,-0.0],"a":{"html":"<b>&amp;</b>","u":"é\u2028"},"n":null,"t":true}` }}{{ sprig_toJson $j }}
{{ sprig_toRawJson $j }}
{{ sprig_toPrettyJson $j }}
[{{ sprig_toJson (sprig_float64 "NaN") }}][{{ sprig_toPrettyJson (sprig_float64 "-inf") }}] {{ sprig_typeOf (index $j.z 0) }}
