#!/usr/bin/env bash
# Configures Vault or OpenBao for the kagi examples in this directory (app-deployment.yaml,
# job.yaml, cronjob.yaml): a policy, KV v2 data, a PKI role, optionally dynamic PostgreSQL
# credentials, and one of two ways for pods to log in.
#
#   export VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=...   # an admin token
#   deploy/examples/vault-setup.sh kubernetes   # Vault runs in (or can reach) the cluster
#   deploy/examples/vault-setup.sh jwt          # external / HCP Vault, private API server
#
# kubernetes: Vault's Kubernetes auth method. Vault calls the cluster's TokenReview API for
#   every login, so Vault must reach the API server. Inside the cluster that needs nothing
#   else; from outside set KUBERNETES_HOST and KUBERNETES_CA_FILE.
# jwt: Vault's JWT auth method verifies the service-account token's signature itself,
#   against the cluster's OIDC issuer keys, and never calls the API server. This is what
#   works for HCP Vault or any Vault outside a private network. By default the issuer's
#   public keys are copied into Vault (re-run this script after the cluster rotates its
#   service-account signing key); with JWT_DISCOVERY=1 Vault fetches them itself from the
#   issuer's public discovery document (EKS, GKE and AKS publish one).
#
# Environment (all optional):
#   VAULT_CLI            vault or bao (default: whichever is on PATH, vault first)
#   APP_NAMESPACE        namespace of the example workloads (default: shop)
#   APP_SERVICE_ACCOUNT  their service account (default: orders)
#   KUBERNETES_HOST, KUBERNETES_CA_FILE   kubernetes mode, Vault outside the cluster
#   JWT_ISSUER, JWT_AUDIENCE, JWKS_FILE   jwt mode: override what is read with kubectl
#   JWT_DISCOVERY=1      jwt mode: let Vault fetch the keys from JWT_ISSUER
#   PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE
#                        an admin login for the database secrets engine; without PGHOST the
#                        database part is skipped (the examples using database/creds then
#                        wait for credentials).
set -euo pipefail

mode="${1:-}"
case "$mode" in
  kubernetes | jwt) ;;
  *)
    echo "usage: $0 kubernetes|jwt" >&2
    exit 2
    ;;
esac

: "${VAULT_ADDR:?set VAULT_ADDR to your Vault/OpenBao address}"
app_ns="${APP_NAMESPACE:-shop}"
app_sa="${APP_SERVICE_ACCOUNT:-orders}"
role="orders"

if [[ -z "${VAULT_CLI:-}" ]]; then
  if command -v vault >/dev/null 2>&1; then VAULT_CLI=vault
  elif command -v bao >/dev/null 2>&1; then VAULT_CLI=bao
  else echo "neither vault nor bao is on PATH (set VAULT_CLI)" >&2; exit 1
  fi
fi
v() { "$VAULT_CLI" "$@"; }
say() { printf '==> %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "$1 is required for this step" >&2; exit 1; }; }
need jq

# Mount `type` at `path` unless something is mounted there already.
enable_secrets() { # path type [args...]
  local path="$1" type="$2"; shift 2
  if v secrets list -format=json | jq -e --arg p "$path/" 'has($p)' >/dev/null; then
    say "secrets engine $path/ already enabled"
  else
    v secrets enable -path="$path" "$@" "$type" >/dev/null
    say "enabled $type secrets engine at $path/"
  fi
}
enable_auth() { # path type
  if v auth list -format=json | jq -e --arg p "$1/" 'has($p)' >/dev/null; then
    say "auth method $1/ already enabled"
  else
    v auth enable -path="$1" "$2" >/dev/null
    say "enabled $2 auth at auth/$1"
  fi
}

# --- policy: exactly what the examples read --------------------------------------------
v policy write "$role" - >/dev/null <<POLICY
path "secret/data/orders/*" {
  capabilities = ["read"]
}
path "database/creds/orders" {
  capabilities = ["read"]
}
path "pki/issue/orders" {
  capabilities = ["create", "update"]
}
POLICY
say "policy $role written"

# --- KV version 2 ----------------------------------------------------------------------
enable_secrets secret kv -version=2
if v kv get -mount=secret orders/config >/dev/null 2>&1; then
  say "secret/orders/config exists; left unchanged"
else
  v kv put -mount=secret orders/config \
    payment_api_url="https://payments.example.com" \
    payment_api_key="replace-me" \
    report_api_key="replace-me-too" >/dev/null
  say "secret/orders/config created with placeholder values"
fi

# --- PKI -------------------------------------------------------------------------------
enable_secrets pki pki -max-lease-ttl=87600h
if ! v read -format=json pki/cert/ca 2>/dev/null | jq -e '.data.certificate | length > 0' >/dev/null; then
  v write -format=json pki/root/generate/internal \
    common_name="kagi examples root CA" key_type=ec key_bits=256 ttl=87600h >/dev/null
  say "generated the PKI root CA"
fi
v write pki/roles/orders \
  allowed_domains="${app_ns}.svc" allow_subdomains=true allow_bare_domains=false \
  key_type=ec key_bits=256 max_ttl=72h >/dev/null
say "PKI role orders: certificates for *.${app_ns}.svc, at most 72h"

# --- database (PostgreSQL) ---------------------------------------------------------------
if [[ -n "${PGHOST:-}" ]]; then
  : "${PGUSER:?set PGUSER (a role that may create roles)}" "${PGPASSWORD:?set PGPASSWORD}"
  enable_secrets database database
  v write database/config/orders-postgres \
    plugin_name=postgresql-database-plugin \
    connection_url="postgresql://{{username}}:{{password}}@${PGHOST}:${PGPORT:-5432}/${PGDATABASE:-postgres}?sslmode=${PGSSLMODE:-require}" \
    username="$PGUSER" password="$PGPASSWORD" \
    allowed_roles=orders >/dev/null
  v write database/roles/orders \
    db_name=orders-postgres \
    creation_statements="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";" \
    revocation_statements="DROP ROLE IF EXISTS \"{{name}}\";" \
    default_ttl=1h max_ttl=24h >/dev/null
  say "database role orders: PostgreSQL users valid 1h, renewable to 24h"
else
  say "PGHOST not set: skipping the database secrets engine"
fi

# --- login ---------------------------------------------------------------------------------
bound_sa="system:serviceaccount:${app_ns}:${app_sa}"
case "$mode" in
  kubernetes)
    enable_auth kubernetes kubernetes
    if [[ -n "${KUBERNETES_HOST:-}" ]]; then
      : "${KUBERNETES_CA_FILE:?set KUBERNETES_CA_FILE to the API server CA (PEM)}"
      # No reviewer token: Vault uses each login's own JWT for its TokenReview, which needs
      # `kubectl create clusterrolebinding vault-tokenreview --clusterrole=system:auth-delegator
      #   --serviceaccount=${app_ns}:${app_sa}`.
      v write auth/kubernetes/config kubernetes_host="$KUBERNETES_HOST" \
        kubernetes_ca_cert=@"$KUBERNETES_CA_FILE" disable_local_ca_jwt=true >/dev/null
    else
      v write auth/kubernetes/config kubernetes_host="https://kubernetes.default.svc" >/dev/null
    fi
    v write auth/kubernetes/role/"$role" \
      bound_service_account_names="$app_sa" bound_service_account_namespaces="$app_ns" \
      token_policies="$role" token_ttl=1h token_max_ttl=24h >/dev/null
    say "kubernetes auth role $role for $bound_sa"
    cat <<NOTE

Pods log in with the annotations already in the examples:
  vault.hashicorp.com/role: "$role"
NOTE
    ;;
  jwt)
    enable_auth jwt jwt
    if [[ -z "${JWT_ISSUER:-}" ]]; then
      need kubectl
      JWT_ISSUER="$(kubectl get --raw /.well-known/openid-configuration | jq -r .issuer)"
    fi
    if [[ -z "${JWT_AUDIENCE:-}" ]]; then
      # The audience of the tokens pods get by default: read it from a short-lived token.
      need kubectl
      need python3
      JWT_AUDIENCE="$(kubectl create token "$app_sa" -n "$app_ns" --duration=10m |
        python3 -c 'import sys,json,base64; p=sys.stdin.read().split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))["aud"][0])')"
    fi
    if [[ "${JWT_DISCOVERY:-0}" == 1 ]]; then
      v write auth/jwt/config oidc_discovery_url="$JWT_ISSUER" bound_issuer="$JWT_ISSUER" >/dev/null
      say "jwt auth: keys discovered from $JWT_ISSUER"
    else
      need python3
      if [[ -n "${JWKS_FILE:-}" ]]; then jwks="$(cat "$JWKS_FILE")"
      else need kubectl; jwks="$(kubectl get --raw /openid/v1/jwks)"
      fi
      # JWKS (RSA or P-256 keys) -> JSON list of PEM public keys, with no Python packages.
      pubkeys="$(printf '%s' "$jwks" | python3 -c '
import base64, json, sys
def b64u(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def length(n):
    if n < 0x80: return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big"); return bytes([0x80 | len(b)]) + b
def tlv(tag, body): return bytes([tag]) + length(len(body)) + body
def integer(b):
    b = b.lstrip(b"\0") or b"\0"
    return tlv(0x02, b"\0" + b if b[0] & 0x80 else b)
RSA = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
P256 = tlv(0x30, tlv(0x06, bytes.fromhex("2a8648ce3d0201")) + tlv(0x06, bytes.fromhex("2a8648ce3d030107")))
pems = []
for k in json.load(sys.stdin)["keys"]:
    if k.get("kty") == "RSA":
        spki = tlv(0x30, RSA + tlv(0x03, b"\0" + tlv(0x30, integer(b64u(k["n"])) + integer(b64u(k["e"])))))
    elif k.get("kty") == "EC" and k.get("crv") == "P-256":
        point = b"\x04" + b64u(k["x"]).rjust(32, b"\0") + b64u(k["y"]).rjust(32, b"\0")
        spki = tlv(0x30, P256 + tlv(0x03, b"\0" + point))
    else:
        sys.exit("unsupported service-account signing key: %s" % k.get("kty"))
    b = base64.b64encode(spki).decode()
    pems.append("-----BEGIN PUBLIC KEY-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + "\n-----END PUBLIC KEY-----\n")
print(json.dumps(pems))
')"
      jq -n --argjson keys "$pubkeys" --arg iss "$JWT_ISSUER" \
        '{jwt_validation_pubkeys: $keys, bound_issuer: $iss}' | v write auth/jwt/config - >/dev/null
      say "jwt auth: $(jq length <<<"$pubkeys") signing key(s) of $JWT_ISSUER copied into Vault"
    fi
    v write auth/jwt/role/"$role" role_type=jwt user_claim=sub \
      bound_audiences="$JWT_AUDIENCE" bound_subject="$bound_sa" \
      token_policies="$role" token_ttl=1h token_max_ttl=24h >/dev/null
    say "jwt auth role $role for $bound_sa (audience $JWT_AUDIENCE)"
    cat <<NOTE

Add these annotations to the example pods (next to vault.hashicorp.com/role):
  vault.hashicorp.com/auth-type: "jwt"
  vault.hashicorp.com/auth-path: "auth/jwt"
  vault.hashicorp.com/auth-config-path: "/var/run/secrets/kubernetes.io/serviceaccount/token"
  vault.hashicorp.com/auth-config-remove_jwt_after_reading: "false"
NOTE
    ;;
esac
say "done"
