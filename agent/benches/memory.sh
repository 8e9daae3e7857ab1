#!/usr/bin/env bash
# Steady memory of kagi-agent vs `bao agent` (`make bench`, issue 11 item 6): the same config
# (3 KV v2 templates, token_file auth, a file sink) against the same `bao server -dev`. Each
# agent runs until its templates are written, then SETTLE seconds more; then RSS, PSS and
# anonymous memory are read from /proc/<pid>/smaps_rollup and printed side by side.
#
# The kagi-agent measured is the static release build that goes into the image (`make static`);
# KAGI_AGENT_BIN overrides it. Bounded: every process started here is stopped on exit.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
settle="${BENCH_SETTLE_SECONDS:-5}"
runs="${BENCH_MEMORY_RUNS:-3}"
templates=3
kagi="${KAGI_AGENT_BIN:-$root/target/x86_64-unknown-linux-gnu/agent/kagi-agent}"
bao="${BAO_BIN:-$(command -v bao || true)}"

[ -x "$kagi" ] || { echo "memory.sh: $kagi is missing: run make static" >&2; exit 1; }
[ -n "$bao" ] && [ -x "$bao" ] || { echo "memory.sh: bao is missing: run make test-deps" >&2; exit 1; }
command -v python3 >/dev/null || { echo "memory.sh: python3 is missing" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="bench-root-token"
"$bao" server -dev -dev-root-token-id="$token" -dev-listen-address="127.0.0.1:$port" \
    >"$work/server.log" 2>&1 &
pids+=("$!")
export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN="$token"
for _ in $(seq 100); do
    if "$bao" status >/dev/null 2>&1; then break; fi
    sleep 0.1
done
"$bao" status >/dev/null || { echo "memory.sh: bao server -dev did not start" >&2; cat "$work/server.log" >&2; exit 1; }
for i in $(seq 0 $((templates - 1))); do
    "$bao" kv put "secret/app$i" password=bench-pass >/dev/null
done

printf '%s' "$token" >"$work/token"
python3 - "$work" "$VAULT_ADDR" "$templates" <<'EOF'
import json, sys
work, addr, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = {
    "vault": {"address": addr},
    "auto_auth": {
        "method": [{"type": "token_file", "config": {"token_file_path": f"{work}/token"}}],
        "sink": [{"type": "file", "config": {"path": f"{work}/sink"}}],
    },
    "template": [
        {
            "destination": f"{work}/out/t{i}.txt",
            "contents": '{{ with secret "secret/app%d" }}{{ .Data.data.password }}{{ end }}\n' % i,
        }
        for i in range(n)
    ],
}
json.dump(cfg, open(f"{work}/agent.json", "w"))
EOF

# Prints "rss pss anon" in KiB for one run of the given command.
measure() {
    rm -rf "$work/out" && mkdir -p "$work/out"
    env -u VAULT_ADDR -u VAULT_TOKEN "$@" -config "$work/agent.json" >"$work/agent.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    local rendered=""
    for _ in $(seq 300); do
        rendered=yes
        for i in $(seq 0 $((templates - 1))); do
            [ -s "$work/out/t$i.txt" ] || rendered=""
        done
        [ -n "$rendered" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$rendered" ]; then
        echo "memory.sh: $1 did not render its templates" >&2
        cat "$work/agent.log" >&2
        exit 1
    fi
    sleep "$settle"
    awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Anonymous:/ {a=$2} END {print r, p, a}' "/proc/$pid/smaps_rollup"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

# Median of each column over $runs runs.
median_of_runs() {
    for _ in $(seq "$runs"); do measure "$@"; done | python3 -c '
import sys, statistics
rows = [list(map(int, l.split())) for l in sys.stdin if l.strip()]
print(" ".join(str(int(statistics.median(c))) for c in zip(*rows)))'
}

kagi_mem="$(median_of_runs "$kagi" run)"
bao_mem="$(median_of_runs "$bao" agent)"
size="$(stat -c %s "$kagi")"
echo "memory.sh: $templates KV v2 templates, token_file auth, median of $runs runs, ${settle}s after every template rendered"
python3 - "$kagi_mem" "$bao_mem" "$size" <<'EOF'
import sys
kagi, bao, size = [list(map(int, a.split())) for a in sys.argv[1:3]] + [int(sys.argv[3])]
print(f"  {'':<11} {'RSS':>9} {'PSS':>9} {'anonymous':>10}   (MiB)")
for name, (rss, pss, anon) in (("kagi-agent", kagi), ("bao agent", bao)):
    print(f"  {name:<11} {rss/1024:>9.2f} {pss/1024:>9.2f} {anon/1024:>10.2f}")
print(f"  ratio bao/kagi: RSS {bao[0]/kagi[0]:.1f}x, PSS {bao[1]/kagi[1]:.1f}x, anonymous {bao[2]/max(kagi[2],1):.1f}x")
print(f"  kagi-agent binary: {size/1e6:.2f} MB ({size} bytes)")
EOF
