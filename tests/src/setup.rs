//! Configuration helpers on an [`OpenBao`]. Each one goes through [`OpenBao::setup`], so it is
//! replayed by [`OpenBao::restart`]. The dev server already mounts KV v2 at `secret/`.

use anyhow::Context;
use serde_json::Value;

use crate::kube::{ServiceAccountIssuer, TokenReviewer};
use crate::openbao::OpenBao;
use crate::postgres::{Postgres, SUPERUSER, SUPERUSER_PASSWORD};

/// Mount name of the database secrets engine used by [`enable_database`].
pub const DATABASE_MOUNT: &str = "database";
/// Connection name under `database/config/`.
pub const DATABASE_CONNECTION: &str = "postgres";

fn mount_exists(bao: &OpenBao, list: &[&str], mount: &str) -> anyhow::Result<bool> {
    let mounts = bao.bao_json(list)?;
    Ok(mounts
        .get(format!("{}/", mount.trim_end_matches('/')))
        .is_some())
}

/// Writes a file in the server's scratch dir and returns its path (for `key=@file`).
fn scratch_file(bao: &OpenBao, name: &str, contents: &str) -> anyhow::Result<String> {
    let path = bao.dir().join(name);
    std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(path.display().to_string())
}

pub fn enable_kv_v1(bao: &OpenBao, mount: &str) -> anyhow::Result<()> {
    bao.setup(&[
        "secrets",
        "enable",
        &format!("-path={mount}"),
        "-version=1",
        "kv",
    ])?;
    Ok(())
}

/// Mounts KV v2 (no-op when `mount` already exists, as `secret/` does on a dev server).
pub fn enable_kv_v2(bao: &OpenBao, mount: &str) -> anyhow::Result<()> {
    let _guard = bao.setup_guard();
    if mount_exists(bao, &["secrets", "list"], mount)? {
        return Ok(());
    }
    bao.setup(&["secrets", "enable", &format!("-path={mount}"), "kv-v2"])?;
    Ok(())
}

/// `bao kv put PATH k=v...` (works for KV v1 and v2; `path` includes the mount, e.g.
/// `secret/app/config`). Returns the write response (KV v2: version metadata).
pub fn put_kv(bao: &OpenBao, path: &str, data: &[(&str, &str)]) -> anyhow::Result<Value> {
    let pairs: Vec<String> = data.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["kv", "put", path];
    args.extend(pairs.iter().map(String::as_str));
    bao.setup(&args)
}

pub fn write_policy(bao: &OpenBao, name: &str, hcl: &str) -> anyhow::Result<()> {
    let file = scratch_file(bao, &format!("policy-{name}.hcl"), hcl)?;
    bao.setup(&["policy", "write", name, &file])?;
    Ok(())
}

/// `bao token create ARGS...` (`-policy=app`, `-ttl=1h`...) as root: the new token. A token is
/// not configuration, so [`OpenBao::restart`] does not replay this.
pub fn create_token(bao: &OpenBao, args: &[&str]) -> anyhow::Result<String> {
    let mut command = vec!["token", "create"];
    command.extend_from_slice(args);
    let created = bao.bao_json(&command)?;
    created["auth"]["client_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no client_token in {created}"))
}

/// Enables AppRole at `approle/`, writes role `role` with `settings` (`key=value`) and returns
/// its role id and a new secret id.
pub fn approle_role(
    bao: &OpenBao,
    role: &str,
    settings: &[&str],
) -> anyhow::Result<(String, String)> {
    bao.setup(&["auth", "enable", "approle"])?;
    let path = format!("auth/approle/role/{role}");
    let mut write = vec!["write", path.as_str()];
    write.extend_from_slice(settings);
    bao.setup(&write)?;
    let field = |answer: Value, name: &str| {
        answer["data"][name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name} in {answer}"))
    };
    let role_id = field(
        bao.bao_json(&["read", &format!("{path}/role-id")])?,
        "role_id",
    )?;
    let secret_id = field(
        bao.bao_json(&["write", "-f", &format!("{path}/secret-id")])?,
        "secret_id",
    )?;
    Ok((role_id, secret_id))
}

/// Enables Kubernetes auth at `kubernetes/` against the TokenReview responder (once) and writes
/// a role bound to `ns`/`sa` with the given policies.
pub fn configure_kubernetes_auth(
    bao: &OpenBao,
    reviewer: &TokenReviewer,
    role: &str,
    ns: &str,
    sa: &str,
    policies: &[&str],
) -> anyhow::Result<()> {
    configure_kubernetes_auth_at(bao, "kubernetes", reviewer)?;
    kubernetes_role(bao, "kubernetes", role, ns, sa, policies, &[])
}

/// Enables and configures a Kubernetes auth mount (idempotent).
pub fn configure_kubernetes_auth_at(
    bao: &OpenBao,
    mount: &str,
    reviewer: &TokenReviewer,
) -> anyhow::Result<()> {
    let _guard = bao.setup_guard();
    if !mount_exists(bao, &["auth", "list"], mount)? {
        bao.setup(&["auth", "enable", &format!("-path={mount}"), "kubernetes"])?;
    }
    let ca = scratch_file(bao, "kubernetes-ca.pem", reviewer.ca_pem())?;
    bao.setup(&[
        "write",
        &format!("auth/{mount}/config"),
        &format!("kubernetes_host={}", reviewer.addr()),
        &format!("kubernetes_ca_cert=@{ca}"),
        "disable_local_ca_jwt=true",
    ])?;
    Ok(())
}

/// Writes a Kubernetes auth role; `extra` are more `key=value` pairs (`token_ttl=30s`,
/// `audience=...`).
pub fn kubernetes_role(
    bao: &OpenBao,
    mount: &str,
    role: &str,
    ns: &str,
    sa: &str,
    policies: &[&str],
    extra: &[&str],
) -> anyhow::Result<()> {
    let path = format!("auth/{mount}/role/{role}");
    let names = format!("bound_service_account_names={sa}");
    let namespaces = format!("bound_service_account_namespaces={ns}");
    let policies = format!("token_policies={}", policies.join(","));
    let mut args = vec!["write", &path, &names, &namespaces, &policies];
    args.extend_from_slice(extra);
    bao.setup(&args)?;
    Ok(())
}

/// Enables JWT auth at `jwt/` validating with the issuer's public key (once) and writes a role
/// for `system:serviceaccount:NS:SA` with `audience`.
pub fn configure_jwt_auth(
    bao: &OpenBao,
    issuer: &ServiceAccountIssuer,
    role: &str,
    ns: &str,
    sa: &str,
    audience: &str,
    policies: &[&str],
) -> anyhow::Result<()> {
    let _guard = bao.setup_guard();
    if !mount_exists(bao, &["auth", "list"], "jwt")? {
        bao.setup(&["auth", "enable", "jwt"])?;
    }
    let pem = scratch_file(bao, "jwt-issuer.pem", issuer.public_key_pem())?;
    bao.setup(&[
        "write",
        "auth/jwt/config",
        &format!("jwt_validation_pubkeys=@{pem}"),
        &format!("bound_issuer={}", issuer.issuer()),
    ])?;
    bao.setup(&[
        "write",
        &format!("auth/jwt/role/{role}"),
        "role_type=jwt",
        &format!("bound_audiences={audience}"),
        "user_claim=sub",
        &format!("bound_subject=system:serviceaccount:{ns}:{sa}"),
        &format!("token_policies={}", policies.join(",")),
    ])?;
    Ok(())
}

/// Enables the database secrets engine at `database/` connected to `pg` as the superuser
/// (once) and writes `role` with the given TTLs (e.g. "30s", "2m"). Issued users can log in and
/// use the `postgres` database; revocation drops them (the plugin's default).
pub fn enable_database(
    bao: &OpenBao,
    pg: &Postgres,
    role: &str,
    default_ttl: &str,
    max_ttl: &str,
) -> anyhow::Result<()> {
    let _guard = bao.setup_guard();
    if !mount_exists(bao, &["secrets", "list"], DATABASE_MOUNT)? {
        bao.setup(&[
            "secrets",
            "enable",
            &format!("-path={DATABASE_MOUNT}"),
            "database",
        ])?;
        bao.setup(&[
            "write",
            &format!("{DATABASE_MOUNT}/config/{DATABASE_CONNECTION}"),
            "plugin_name=postgresql-database-plugin",
            "allowed_roles=*",
            &format!(
                "connection_url=postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable",
                pg.port()
            ),
            &format!("username={SUPERUSER}"),
            &format!("password={SUPERUSER_PASSWORD}"),
            "verify_connection=true",
        ])?;
    }
    database_role(bao, role, default_ttl, max_ttl)
}

/// Writes one more database role on the connection made by [`enable_database`].
pub fn database_role(
    bao: &OpenBao,
    role: &str,
    default_ttl: &str,
    max_ttl: &str,
) -> anyhow::Result<()> {
    let creation = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; \
         GRANT CONNECT ON DATABASE postgres TO \"{{name}}\";";
    bao.setup(&[
        "write",
        &format!("{DATABASE_MOUNT}/roles/{role}"),
        &format!("db_name={DATABASE_CONNECTION}"),
        &format!("creation_statements={creation}"),
        &format!("default_ttl={default_ttl}"),
        &format!("max_ttl={max_ttl}"),
    ])?;
    Ok(())
}

/// Enables PKI at `mount` with a generated root CA and a role issuing certificates for
/// `*.example.com`, `*.svc`, `*.svc.cluster.local` and localhost with max TTL `ttl`.
pub fn enable_pki(bao: &OpenBao, mount: &str, role: &str, ttl: &str) -> anyhow::Result<()> {
    let _guard = bao.setup_guard();
    if !mount_exists(bao, &["secrets", "list"], mount)? {
        bao.setup(&["secrets", "enable", &format!("-path={mount}"), "pki"])?;
        bao.setup(&["secrets", "tune", "-max-lease-ttl=87600h", mount])?;
        bao.setup(&[
            "write",
            &format!("{mount}/root/generate/internal"),
            "common_name=kagi harness root CA",
            "ttl=87600h",
        ])?;
    }
    bao.setup(&[
        "write",
        &format!("{mount}/roles/{role}"),
        "allowed_domains=example.com,svc,svc.cluster.local",
        "allow_subdomains=true",
        "allow_localhost=true",
        "allow_ip_sans=true",
        &format!("max_ttl={ttl}"),
        &format!("ttl={ttl}"),
    ])?;
    Ok(())
}
