#!/usr/bin/env bash
# Measures what the resources in deploy/base/deployment.yaml are based on: the resident
# memory of `kagi-webhook serve` idle and while answering AdmissionReviews (each on a new
# TLS connection), and the CPU time used.
#
#   cargo build --release -p kagi-webhook
#   deploy/tools/measure-webhook-rss.sh [target/release/kagi-webhook] [REVIEWS] [CONCURRENCY]
#
# Needs curl and python3 (with PyYAML, which kubernetes-validate brings along).
set -euo pipefail
bin="${1:-target/release/kagi-webhook}"
reviews="${2:-2000}"
concurrency="${3:-8}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# An AdmissionReview for the pod of the example Deployment, with the service-account token
# volume the API server's ServiceAccount admission adds before webhooks run.
python3 - "$here/../examples/app-deployment.yaml" "$work/review.json" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
template = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]
spec = template["spec"]
spec["volumes"] = [{"name": "kube-api-access-x1", "projected": {"sources": [
    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}]
for c in spec["containers"]:
    c["volumeMounts"] = [{"name": "kube-api-access-x1", "readOnly": True,
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
pod = {"apiVersion": "v1", "kind": "Pod", "spec": spec,
       "metadata": dict(template["metadata"], generateName="orders-", namespace="shop")}
json.dump({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "operation": "CREATE", "namespace": "shop",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
    "object": pod}}, open(sys.argv[2], "w"))
PY

"$bin" gen-certs --service kagi-webhook --namespace kagi --out "$work/tls" >/dev/null
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin" serve --listen "127.0.0.1:$port" --tls-cert-file "$work/tls/tls.crt" \
  --tls-key-file "$work/tls/tls.key" --vault-address https://vault.vault.svc:8200 \
  --log-level warn >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$port/health/ready" && break; sleep 0.1; done
sleep 1
echo "idle:   $(grep VmRSS "/proc/$pid/status" | tr -s ' \t' ' ')"

export url="https://127.0.0.1:$port/mutate" review="$work/review.json"
seq 1 "$reviews" | xargs -P "$concurrency" -n 50 sh -c \
  'for _ in "$@"; do curl -sk -o /dev/null -w "%{http_code}\n" -H "content-type: application/json" --data-binary @"$review" "$url"; done' _ \
  >"$work/codes"
echo "status: $(sort "$work/codes" | uniq -c | tr -s ' \n' ' ')"
echo "loaded: $(grep VmRSS "/proc/$pid/status" | tr -s ' \t' ' '), peak $(grep VmHWM "/proc/$pid/status" | tr -s ' \t' ' ')"
echo "cpu:    $(ps -o cputime= -p "$pid") for $reviews reviews"
