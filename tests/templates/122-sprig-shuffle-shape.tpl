{{ len (sprig_shuffle "hello") }} {{ sprig_sortAlpha (sprig_splitList "" (sprig_shuffle "dcba")) }} {{ sprig_shuffle "" }}|{{ sprig_shuffle "z" }}
