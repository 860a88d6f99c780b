//! Instructions per operation over the SQLite store, counted by valgrind's
//! callgrind in the `measure` function only (setup excluded): repeatable
//! on a machine too busy for timings. User-space instructions only: the
//! system calls a read makes (two `fcntl` per read transaction, see the
//! README) are not counted.
//!
//! Run through `storage-sqlite/benches/callgrind.sh`. By hand: `<this
//! binary> <op> <n>` with `<op>` one of `introspect_endpoint` (the HTTP
//! values path, client authentication included), `introspect` (the typed
//! call, caller already authenticated), `get` (the store's read alone).
//! The store holds 1,000 live tokens, introspected in turn.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;

use gatehouse_core::http::HttpRequest;
use gatehouse_core::model::{
    Claims, Client, ClientId, GrantId, GrantType, Jti, Resource, Scope, SecretDigest, TokenKind, TokenRecord,
};
use gatehouse_core::{AuthServer, ClientRegistry, Clock, Config, Keyring, SystemClock, TokenStore};
use gatehouse_sqlite::{block_on as run, SqliteStore};

struct Bench {
    server: AuthServer<SqliteStore>,
    rs: Client,
    tokens: Vec<String>,
    records: Vec<TokenRecord>,
    bodies: Vec<String>,
}

fn setup(dir: &std::path::Path) -> Bench {
    let store = SqliteStore::open(dir.join("tokens.db")).unwrap();
    let keys = Keyring::random().unwrap();
    let server = AuthServer::new(store.clone(), keys.clone(), Config::new("https://issuer.example"));
    let api = Resource::new("https://api.example").unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), SecretDigest::generate().unwrap().1)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read write").unwrap(), Scope::parse("read").unwrap())
        .with_audiences([api.clone()]);
    let (rs_secret, rs_digest) = SecretDigest::generate().unwrap();
    let rs = Client::new_resource_server(ClientId::new("rs").unwrap(), rs_digest, [api]);
    run(store.put_client(app.clone())).unwrap();
    run(store.put_client(rs.clone())).unwrap();
    let now = SystemClock.now();
    let (mut tokens, mut records, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..1_000 {
        let (token, digest) = keys.mint(TokenKind::Access, GrantId::generate().unwrap()).unwrap();
        bodies.push(format!("client_id=rs&client_secret={rs_secret}&token={}", token.expose()));
        tokens.push(token.into_string());
        records.push(TokenRecord::access(
            digest,
            Jti::generate().unwrap(),
            Claims::new(app.id.clone(), Scope::parse("read").unwrap(), app.audiences.clone()),
            now,
            now.plus(24 * 3600),
        ));
    }
    store.insert_batch(records.clone()).unwrap();
    Bench { server, rs, tokens, records, bodies }
}

fn once(b: &Bench, op: &str, i: usize) {
    match op {
        "introspect_endpoint" => {
            let r = run(b.server.introspection_endpoint(HttpRequest::form_post(b.bodies[i].as_bytes())));
            assert!(r.body.starts_with(b"{\"active\":true"));
        }
        "introspect" => assert!(run(b.server.introspect(&b.rs, &b.tokens[i])).unwrap().is_active()),
        "get" => assert!(run(b.server.store().get(black_box(&b.records[i].digest))).unwrap().is_some()),
        other => panic!("unknown operation {other}"),
    }
}

/// The measured loop; `--toggle-collect='*instructions*measure*'` counts only inside it.
#[inline(never)]
fn measure(b: &Bench, op: &str, n: usize) {
    for i in 0..n {
        once(b, op, i % b.tokens.len());
    }
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (Some(op), Some(n)) = (args.next(), args.next()) else {
        println!("usage: instructions <op> <n> (see storage-sqlite/benches/callgrind.sh)");
        return;
    };
    let n: usize = n.parse().unwrap();
    let dir = std::env::temp_dir().join(format!("gatehouse-sqlite-instructions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let b = setup(&dir);
    // Warm up: statements prepared, the client snapshot loaded, pages cached.
    for i in 0..b.tokens.len() {
        once(&b, &op, i);
    }
    measure(&b, &op, n);
    drop(b);
    std::fs::remove_dir_all(&dir).unwrap();
}
