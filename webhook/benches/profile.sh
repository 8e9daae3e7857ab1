#!/usr/bin/env bash
# Instructions per review step under callgrind (repeatable on a loaded machine, unlike
# time): runs `benches/profile.rs` with 0 and N repetitions of each step and prints the
# difference divided by N. `cargo bench -p kagi-webhook --bench profile --no-run` builds it.
#
#   bash webhook/benches/profile.sh [N] [BINARY]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
count="${1:-200}"
bin="${2:-$(ls -t "$root"/target/release/deps/profile-* | grep -v '\.d$' | head -1)}"
command -v valgrind >/dev/null || { echo "profile.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }

instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-8s %14s\n' step "instr/step"
for step in review parse clone mutate patch encode; do
    zero="$(instructions "$step" 0)"
    many="$(instructions "$step" "$count")"
    printf '%-8s %14d\n' "$step" "$(((many - zero) / count))"
done
