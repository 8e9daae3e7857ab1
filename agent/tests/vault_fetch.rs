//! The agent's Vault fetcher against a real OpenBao: KV v2 detection and `data/` rewriting,
//! pinned versions, KV v1, LIST, writes, and "no secret" errors.

use std::collections::BTreeMap;
use std::sync::Arc;

use kagi_agent::config::VaultConnection;
use kagi_agent::metrics::Metrics;
use kagi_agent::template::Dependency;
use kagi_agent::vault::Vault;
use kagi_agent::watch::{FetchError, Fetcher};
use kagi_tests::openbao::OpenBao;
use kagi_tests::setup;

fn fetcher(bao: &OpenBao) -> Fetcher {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let conn = VaultConnection {
        address: bao.addr(),
        ..VaultConnection::default()
    };
    let vault = Vault::new(&conn, None).expect("client");
    Fetcher::new(
        vault.with_token(bao.root_token()),
        Arc::new(Metrics::default()),
    )
}

fn read(path: &str) -> Dependency {
    Dependency::Secret {
        path: path.into(),
        write: None,
    }
}

#[tokio::test]
async fn fetches_kv_v1_v2_versions_lists_and_writes() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    setup::put_kv(&bao, "secret/app", &[("user", "alice")]).unwrap();
    setup::put_kv(&bao, "secret/app", &[("user", "bob")]).unwrap();
    setup::put_kv(&bao, "secret/team/one", &[("k", "v")]).unwrap();
    setup::enable_kv_v1(&bao, "kv1").unwrap();
    bao.setup(&["write", "kv1/cfg", "color=blue"]).unwrap();
    let fetcher = fetcher(&bao);

    let latest = fetcher.fetch(&read("secret/app")).await.unwrap();
    assert_eq!(latest["data"]["data"]["user"], "bob");
    assert_eq!(latest["data"]["metadata"]["version"], 2);

    let pinned = fetcher
        .fetch(&read(" /secret/app?version=1"))
        .await
        .unwrap();
    assert_eq!(pinned["data"]["data"]["user"], "alice");

    let explicit = fetcher.fetch(&read("secret/data/app")).await.unwrap();
    assert_eq!(explicit["data"]["data"]["user"], "bob");

    let v1 = fetcher.fetch(&read("kv1/cfg")).await.unwrap();
    assert_eq!(v1["data"]["color"], "blue");
    assert_eq!(
        v1["lease_duration"], 2764800,
        "KV v1 carries the mount's default lease"
    );

    let list = fetcher
        .fetch(&Dependency::List {
            path: "secret/".into(),
        })
        .await
        .unwrap();
    assert_eq!(list["data"]["keys"], serde_json::json!(["app", "team/"]));
    let empty = fetcher
        .fetch(&Dependency::List {
            path: "secret/nothing".into(),
        })
        .await
        .unwrap();
    assert_eq!(empty["data"]["keys"], serde_json::json!([]));

    let mut args = BTreeMap::new();
    args.insert("user".to_owned(), "carol".to_owned());
    let written = fetcher
        .fetch(&Dependency::Secret {
            path: "secret/app".into(),
            write: Some(args),
        })
        .await
        .unwrap();
    assert_eq!(
        written["data"]["version"], 3,
        "a KV v2 write goes to data/ wrapped in data"
    );
    let after = fetcher.fetch(&read("secret/app")).await.unwrap();
    assert_eq!(after["data"]["data"]["user"], "carol");

    match fetcher.fetch(&read("secret/missing")).await {
        Err(FetchError::NotFound(path)) => assert_eq!(path, "secret/data/missing"),
        other => panic!("expected no secret, got {other:?}"),
    }
}
