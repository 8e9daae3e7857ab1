#!/usr/bin/env bash
# End-to-end serving benchmark (`make bench`): `kagi-webhook serve` against nginx answering
# the same response bytes over the same TLS (same P-256 key, same client, same connection
# count), both measured in this run on loopback.
#
#  - reviews/s: h2load, HTTP/1.1 keep-alive, 16 connections, the 5-secret pod review;
#  - handshakes/s: `openssl s_time -new`, one full TLS handshake per connection;
#  - review cost: criterion's estimate from `cargo bench --bench review` if it ran before.
#
# BENCH_BASELINE_BIN=<another kagi-webhook> adds a column for it, measured in the same run
# (before/after figures on the same box under the same load).
#
# Bounded: a fixed request count per run; nginx and the webhook are stopped on exit.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
requests="${BENCH_REQUESTS:-60000}"
connections="${BENCH_CONNECTIONS:-16}"
handshake_seconds="${BENCH_HANDSHAKE_SECONDS:-5}"
vault="https://vault.vault.svc:8200"

for tool in nginx h2load openssl python3; do
    command -v "$tool" >/dev/null || { echo "serve.sh: $tool is missing: run make bench (it installs nginx and nghttp2-client)" >&2; exit 1; }
done

work="$(mktemp -d)"
chmod 755 "$work" # nginx workers drop root and read the answer file from here
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

bin="${KAGI_WEBHOOK_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --quiet --release -p kagi-webhook --bin kagi-webhook
    bin="$root/target/release/kagi-webhook"
fi
env -u AGENT_INJECT_LOG_LEVEL "$bin" gen-certs --service kagi-webhook --namespace bench \
    --host localhost --host 127.0.0.1 --out "$work/tls" >/dev/null
review="$root/webhook/tests/fixtures/review-5-secrets.json"
# The exact bytes the server answers (`review` prints them and a newline).
"$bin" review -f "$review" --vault-address "$vault" | head -c -1 >"$work/answer.json"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "serve.sh: nothing listens on port $1" >&2
    return 1
}

# --- the webhook, at its defaults (info logs go to a file, as a collector would read them)
webhook_port="$(free_port)"
"$bin" serve --listen "127.0.0.1:$webhook_port" --vault-address "$vault" \
    --tls-cert-file "$work/tls/tls.crt" --tls-key-file "$work/tls/tls.key" 2>"$work/webhook.log" &
pids+=("$!")

baseline_bin="${BENCH_BASELINE_BIN:-}"
baseline_port=""
if [ -n "$baseline_bin" ]; then
    baseline_port="$(free_port)"
    "$baseline_bin" serve --listen "127.0.0.1:$baseline_port" --vault-address "$vault" \
        --tls-cert-file "$work/tls/tls.crt" --tls-key-file "$work/tls/tls.key" 2>"$work/baseline.log" &
    baseline_pid="$!"
    pids+=("$baseline_pid")
fi

# --- nginx: same certificate, same answer, as many workers as the webhook has threads
nginx_port="$(free_port)"
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes $(nproc);
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_certificate $work/tls/tls.crt;
        ssl_certificate_key $work/tls/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 3m;
        # The static module refuses POST (405); that error becomes the answer file, 200.
        location = /mutate {
            alias $work/answer.json;
            error_page 405 =200 /answer.json;
        }
        location = /answer.json {
            internal;
            root $work;
            default_type application/json;
            etag off;
        }
    }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid="$!"
pids+=("$nginx_pid")
wait_for_port "$webhook_port"
wait_for_port "$nginx_port"
[ -z "$baseline_port" ] || wait_for_port "$baseline_port"

# Both must answer the same bytes, or the comparison means nothing.
for port in "$webhook_port" "$nginx_port" $baseline_port; do
    curl -sSk --fail -H 'content-type: application/json' --data-binary "@$review" \
        "https://127.0.0.1:$port/mutate" >"$work/check.json"
    cmp -s "$work/check.json" "$work/answer.json" || { echo "serve.sh: port $port answered other bytes" >&2; exit 1; }
done

# CPU time (user + system, clock ticks) of a process and its children's threads so far:
# what serving cost the server itself, whatever else the machine runs.
cpu_ticks() {
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$total"
}
cpu_us_per_review() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }'; }

reviews_per_second() {
    local out
    out="$(h2load --h1 -n "$requests" -c "$connections" -H 'content-type: application/json' \
        -d "$review" "https://127.0.0.1:$1/mutate")"
    grep -q "status codes: $requests 2xx" <<<"$out" || { echo "serve.sh: not every request got 2xx:" >&2; echo "$out" >&2; exit 1; }
    sed -n 's/^finished in .*s, \([0-9.]*\) req\/s.*/\1/p' <<<"$out"
}
# Several clients at once, so the server's handshake capacity shows rather than one
# client's round trips.
handshake_clients="${BENCH_HANDSHAKE_CLIENTS:-8}"
parallel_handshakes_per_second() {
    local i
    for i in $(seq "$handshake_clients"); do
        openssl s_time -connect "127.0.0.1:$1" -new -time "$handshake_seconds" >"$work/s_time.$1.$i" 2>/dev/null &
    done
    wait # in $(...), a subshell: only these clients are its children
    cat "$work"/s_time."$1".* \
        | sed -n 's/^\([0-9]*\) connections in \([0-9.]*\) real seconds.*/\1 \2/p' \
        | awk '{ n += $1; if ($2 > t) t = $2 } END { printf "%.0f", n / t }'
}
handshakes_per_second() {
    openssl s_time -connect "127.0.0.1:$1" -new -time "$handshake_seconds" 2>/dev/null \
        | sed -n 's/^\([0-9]*\) connections in \([0-9.]*\) real seconds.*/\1 \2/p' \
        | awk '{ printf "%.0f", $1 / $2 }'
}

# Warm both up, then measure each in turn.
h2load --h1 -n 2000 -c "$connections" -H 'content-type: application/json' -d "$review" "https://127.0.0.1:$webhook_port/mutate" >/dev/null
h2load --h1 -n 2000 -c "$connections" -H 'content-type: application/json' -d "$review" "https://127.0.0.1:$nginx_port/mutate" >/dev/null
start_ticks="$(cpu_ticks "${pids[0]}")"
webhook_rps="$(reviews_per_second "$webhook_port")"
webhook_cpu="$(cpu_us_per_review $(($(cpu_ticks "${pids[0]}") - start_ticks)))"
start_ticks="$(cpu_ticks "$nginx_pid")"
nginx_rps="$(reviews_per_second "$nginx_port")"
nginx_cpu="$(cpu_us_per_review $(($(cpu_ticks "$nginx_pid") - start_ticks)))"
webhook_hs="$(handshakes_per_second "$webhook_port")"
nginx_hs="$(handshakes_per_second "$nginx_port")"
webhook_phs="$(parallel_handshakes_per_second "$webhook_port")"
nginx_phs="$(parallel_handshakes_per_second "$nginx_port")"
rss_kib="$(awk '/VmHWM/ { print $2 }' "/proc/${pids[0]}/status")"
if [ -n "$baseline_port" ]; then
    h2load --h1 -n 2000 -c "$connections" -H 'content-type: application/json' -d "$review" "https://127.0.0.1:$baseline_port/mutate" >/dev/null
    start_ticks="$(cpu_ticks "$baseline_pid")"
    baseline_rps="$(reviews_per_second "$baseline_port")"
    baseline_cpu="$(cpu_us_per_review $(($(cpu_ticks "$baseline_pid") - start_ticks)))"
    # Measured last: the webhook again, right after its baseline, so drifting load shows.
    start_ticks="$(cpu_ticks "${pids[0]}")"
    webhook_rps2="$(reviews_per_second "$webhook_port")"
    webhook_cpu2="$(cpu_us_per_review $(($(cpu_ticks "${pids[0]}") - start_ticks)))"
fi

# criterion's estimates from `cargo bench --bench review` (make bench runs it first).
review_cost() {
    local estimate="$root/target/criterion/$1/review_pod_with_5_secrets/new/estimates.json"
    if [ -f "$estimate" ]; then
        python3 -c 'import json, sys; e = json.load(open(sys.argv[1])); print("%.1f µs (median %.1f µs)" % (e["mean"]["point_estimate"] / 1000, e["median"]["point_estimate"] / 1000))' "$estimate"
    else
        echo "(run cargo bench -p kagi-webhook --bench review first)"
    fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
echo
echo "== kagi-webhook serve vs nginx, same answer ($(wc -c <"$work/answer.json") bytes), same TLS (P-256), loopback, $(nproc) cores"
printf '%-44s %14s %14s %8s\n' "" "kagi-webhook" "nginx" "ratio"
printf '%-44s %14.0f %14.0f %8s\n' "reviews/s (HTTP/1.1 keep-alive, $connections conns)" "$webhook_rps" "$nginx_rps" "$(ratio "$webhook_rps" "$nginx_rps")"
printf '%-44s %14s %14s %8s\n' "server CPU µs per review (user+system)" "$webhook_cpu" "$nginx_cpu" "$(ratio "$nginx_cpu" "$webhook_cpu")"
printf '%-44s %14s %14s %8s\n' "new TLS handshakes/s (s_time, 1 client)" "$webhook_hs" "$nginx_hs" "$(ratio "$webhook_hs" "$nginx_hs")"
printf '%-44s %14s %14s %8s\n' "new TLS handshakes/s ($handshake_clients s_time clients)" "$webhook_phs" "$nginx_phs" "$(ratio "$webhook_phs" "$nginx_phs")"
if [ -n "$baseline_port" ]; then
    printf '%-44s %14.0f %14s %8s\n' "baseline $(basename "$baseline_bin"): reviews/s" "$baseline_rps" "" "$(ratio "$baseline_rps" "$nginx_rps")"
    printf '%-44s %14s %14s %8s\n' "baseline: server CPU µs per review" "$baseline_cpu" "" "$(ratio "$nginx_cpu" "$baseline_cpu")"
    printf '%-44s %14.0f %14s %8s\n' "kagi-webhook again, after the baseline" "$webhook_rps2" "" "$(ratio "$webhook_rps2" "$nginx_rps")"
    printf '%-44s %14s %14s %8s\n' "kagi-webhook again: server CPU µs per review" "$webhook_cpu2" "" "$(ratio "$nginx_cpu" "$webhook_cpu2")"
fi
printf '%-44s %14s\n' "webhook peak RSS" "$((rss_kib / 1024)) MiB"
printf '%-44s %s\n' "review cost, 5-secret pod, wall (criterion)" "$(review_cost admission)"
printf '%-44s %s\n' "review cost, 5-secret pod, CPU (criterion)" "$(review_cost admission_cpu)"
printf '%-44s %s\n' "load average during the run" "$(cut -d' ' -f1-3 /proc/loadavg)"
