{{ sprig_semver "1.2.3" }} {{ sprig_semver "v1.2" }} {{ sprig_semver "1.2.3-beta.1+build.5" }}
{{ $v := sprig_semver "v2.10.4-rc.1+meta" }}{{ $v.Major }}.{{ $v.Minor }}.{{ $v.Patch }} [{{ $v.Prerelease }}] [{{ $v.Metadata }}] [{{ $v.Original }}] {{ sprig_typeOf $v.Major }}
