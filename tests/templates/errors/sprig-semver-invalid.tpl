{{ sprig_semver "not.a.version" }}
