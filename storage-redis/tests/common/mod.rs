//! Contract checks shared by the single-node and cluster test binaries:
//! every `TokenStore` / `ClientRegistry` guarantee, on `RedisStore`.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::future::Future;
use std::sync::Arc;

use gatehouse_core::model::{
    Client, ClientAuth, ClientId, GrantId, GrantTypes, Jti, Scope, SecretDigest, Subject, TokenDigest,
    TokenKind, TokenRecord, TokenState,
};
use gatehouse_core::{
    ClientRegistry, Clock, Consumed, Keyring, StoreError, SystemClock, TokenStore, UnixTime,
};
use gatehouse_redis::testing::{unique_prefix, TestCluster, TestRedis};
use gatehouse_redis::{RedisConnection, RedisStore, DEFAULT_TIMEOUT};

/// A Redis to test against: single node or cluster.
pub trait Backend: Send + Sync {
    fn store_with(&self, prefix: &str) -> impl Future<Output = RedisStore> + Send;
    /// One URL per node, for scanning.
    fn node_urls(&self) -> Vec<String>;
    fn store(&self) -> impl Future<Output = RedisStore> + Send {
        async { self.store_with(&unique_prefix()).await }
    }
}

impl Backend for TestRedis {
    async fn store_with(&self, prefix: &str) -> RedisStore {
        RedisStore::connect(&self.url(), prefix).await.unwrap()
    }
    fn node_urls(&self) -> Vec<String> {
        vec![self.url()]
    }
}

impl Backend for TestCluster {
    async fn store_with(&self, prefix: &str) -> RedisStore {
        RedisStore::connect_cluster(&self.urls(), prefix).await.unwrap()
    }
    fn node_urls(&self) -> Vec<String> {
        self.urls()
    }
}

pub fn now() -> UnixTime {
    SystemClock.now()
}

pub fn keyring() -> Keyring {
    Keyring::random().unwrap()
}

/// A record for a freshly minted token; returns the raw token too (only
/// for the at-rest scan, which checks it never reaches Redis).
pub fn minted(ring: &Keyring, kind: TokenKind, grant: GrantId, ttl: u64) -> (String, TokenRecord) {
    let (raw, digest) = ring.mint(kind, grant).unwrap();
    (raw.into_string(), record_for(digest, kind, ttl))
}

pub fn record(kind: TokenKind, grant: GrantId) -> TokenRecord {
    minted(&keyring(), kind, grant, 3600).1
}

pub fn record_for(digest: TokenDigest, kind: TokenKind, ttl: u64) -> TokenRecord {
    let t = now();
    TokenRecord {
        digest,
        kind,
        client_id: ClientId::new("web-app").unwrap(),
        subject: Some(Subject::new("alice").unwrap()),
        scope: Scope::parse("read write").unwrap(),
        audience: Arc::from(vec![gatehouse_core::model::Resource::new("https://api.example").unwrap()]),
        issued_at: t,
        not_before: t,
        expires_at: t.plus(ttl),
        jti: Jti::generate().unwrap(),
        state: TokenState::Active,
        code: None,
    }
}

pub fn grant() -> GrantId {
    GrantId::generate().unwrap()
}

fn with_state(mut r: TokenRecord, s: TokenState) -> TokenRecord {
    r.state = s;
    r
}

pub fn token_key(store: &RedisStore, d: &TokenDigest) -> String {
    format!("{}t:{{{}}}:{}", store.prefix(), d.grant(), d.hash_hex())
}

pub fn grant_key(store: &RedisStore, g: &GrantId) -> String {
    format!("{}g:{{{g}}}", store.prefix())
}

pub async fn pttl(store: &RedisStore, key: &str) -> i64 {
    store.connection().query(redis::cmd("PTTL").arg(key)).await.unwrap()
}

// ---- checks ----------------------------------------------------------

pub async fn round_trip<B: Backend>(b: &B) {
    let s = b.store().await;
    let r = record(TokenKind::Access, grant());
    s.insert(r.clone()).await.unwrap();
    assert_eq!(s.get(&r.digest).await.unwrap(), Some(r));
    let mut code = record(TokenKind::AuthorizationCode, grant());
    code.subject = None;
    code.code = Some(Box::new(gatehouse_core::model::CodeBinding {
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
    }));
    s.insert(code.clone()).await.unwrap();
    assert_eq!(s.get(&code.digest).await.unwrap(), Some(code));
}

pub async fn unknown_is_none<B: Backend>(b: &B) {
    let s = b.store().await;
    let r = record(TokenKind::Access, grant());
    assert_eq!(s.get(&r.digest).await.unwrap(), None);
    assert_eq!(s.consume(&r.digest, vec![]).await.unwrap(), Consumed::Unknown);
    assert!(!s.revoke(&r.digest).await.unwrap());
    s.revoke_grant(&r.digest.grant()).await.unwrap();
    assert_eq!(s.purge_expired(now(), 100).await.unwrap(), 0);
}

pub async fn insert_never_overwrites<B: Backend>(b: &B) {
    let s = b.store().await;
    let r = record(TokenKind::Access, grant());
    s.insert(r.clone()).await.unwrap();
    let mut other = r.clone();
    other.scope = Scope::parse("admin").unwrap();
    other.state = TokenState::Revoked;
    assert!(matches!(s.insert(other).await, Err(StoreError::Conflict)));
    assert_eq!(s.get(&r.digest).await.unwrap(), Some(r));
}

pub async fn consume_takes_once_and_stores_replacements<B: Backend>(b: &B) {
    let s = b.store().await;
    let g = grant();
    let code = record(TokenKind::AuthorizationCode, g);
    s.insert(code.clone()).await.unwrap();
    let access = record(TokenKind::Access, g);
    let refresh = record(TokenKind::Refresh, g);
    let got = s.consume(&code.digest, vec![access.clone(), refresh.clone()]).await.unwrap();
    assert_eq!(got, Consumed::Taken(code.clone()));
    assert_eq!(s.get(&access.digest).await.unwrap(), Some(access.clone()));
    assert_eq!(s.get(&refresh.digest).await.unwrap(), Some(refresh));
    let consumed = with_state(code.clone(), TokenState::Consumed);
    assert_eq!(s.get(&code.digest).await.unwrap(), Some(consumed.clone()));
    // Replay: nothing changes, the stored record comes back.
    let again = record(TokenKind::Access, g);
    assert_eq!(s.consume(&code.digest, vec![again.clone()]).await.unwrap(), Consumed::Replayed(consumed));
    assert_eq!(s.get(&again.digest).await.unwrap(), None);
    // A revoked token replays too.
    s.revoke(&access.digest).await.unwrap();
    assert_eq!(
        s.consume(&access.digest, vec![]).await.unwrap(),
        Consumed::Replayed(with_state(access, TokenState::Revoked))
    );
}

/// 32 tasks race to consume one code, 20 times: exactly one `Taken`.
pub async fn consume_race_has_one_winner<B: Backend>(b: &B) {
    let s = Arc::new(b.store().await);
    for _ in 0..20 {
        let g = grant();
        let code = record(TokenKind::AuthorizationCode, g);
        s.insert(code.clone()).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let s = s.clone();
            let d = code.digest;
            let repl = vec![record(TokenKind::Access, g), record(TokenKind::Refresh, g)];
            tasks.push(tokio::spawn(async move {
                let out = s.consume(&d, repl.clone()).await.unwrap();
                (out, repl)
            }));
        }
        let mut taken = 0;
        for t in tasks {
            let (out, repl) = t.await.unwrap();
            match out {
                Consumed::Taken(_) => {
                    taken += 1;
                    for r in repl {
                        assert_eq!(s.get(&r.digest).await.unwrap(), Some(r));
                    }
                }
                Consumed::Replayed(r) => {
                    assert_eq!(r.state, TokenState::Consumed);
                    for r in repl {
                        assert_eq!(s.get(&r.digest).await.unwrap(), None);
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(taken, 1);
    }
}

pub async fn consume_conflict_changes_nothing<B: Backend>(b: &B) {
    let s = b.store().await;
    let g = grant();
    let code = record(TokenKind::AuthorizationCode, g);
    let existing = record(TokenKind::Access, g);
    s.insert(code.clone()).await.unwrap();
    s.insert(existing.clone()).await.unwrap();
    let fresh = record(TokenKind::Refresh, g);
    let mut clash = existing.clone();
    clash.scope = Scope::parse("admin").unwrap();
    let r = s.consume(&code.digest, vec![fresh.clone(), clash]).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(s.get(&code.digest).await.unwrap(), Some(code.clone()));
    assert_eq!(s.get(&fresh.digest).await.unwrap(), None);
    assert_eq!(s.get(&existing.digest).await.unwrap(), Some(existing));
    // Two replacements with one digest conflict with each other.
    let r = s.consume(&code.digest, vec![fresh.clone(), fresh.clone()]).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(s.get(&fresh.digest).await.unwrap(), None);
    // A replacement may not be the consumed token itself.
    let r = s.consume(&code.digest, vec![code.clone()]).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(s.get(&code.digest).await.unwrap(), Some(code));
}

pub async fn revoke_one<B: Backend>(b: &B) {
    let s = b.store().await;
    let g = grant();
    let a = record(TokenKind::Access, g);
    let other = record(TokenKind::Refresh, g);
    s.insert(a.clone()).await.unwrap();
    s.insert(other.clone()).await.unwrap();
    assert!(s.revoke(&a.digest).await.unwrap());
    assert_eq!(s.get(&a.digest).await.unwrap(), Some(with_state(a.clone(), TokenState::Revoked)));
    assert!(s.revoke(&a.digest).await.unwrap());
    assert_eq!(s.get(&other.digest).await.unwrap(), Some(other));
    // A consumed token can be revoked.
    let code = record(TokenKind::AuthorizationCode, g);
    s.insert(code.clone()).await.unwrap();
    s.consume(&code.digest, vec![]).await.unwrap();
    assert!(s.revoke(&code.digest).await.unwrap());
    assert_eq!(s.get(&code.digest).await.unwrap().unwrap().state, TokenState::Revoked);
}

pub async fn revoke_grant_revokes_the_family<B: Backend>(b: &B) {
    let s = b.store().await;
    let g = grant();
    let bystander = record(TokenKind::Access, grant());
    s.insert(bystander.clone()).await.unwrap();
    let code = record(TokenKind::AuthorizationCode, g);
    s.insert(code.clone()).await.unwrap();
    let access = record(TokenKind::Access, g);
    let refresh = record(TokenKind::Refresh, g);
    s.consume(&code.digest, vec![access.clone(), refresh.clone()]).await.unwrap();
    s.revoke_grant(&g).await.unwrap();
    for r in [&code, &access, &refresh] {
        assert_eq!(s.get(&r.digest).await.unwrap().unwrap().state, TokenState::Revoked);
    }
    assert_eq!(s.get(&bystander.digest).await.unwrap(), Some(bystander));
    // A consume after the revocation reports a replay and stores nothing.
    let next = record(TokenKind::Access, g);
    assert!(matches!(s.consume(&refresh.digest, vec![next.clone()]).await.unwrap(), Consumed::Replayed(_)));
    assert_eq!(s.get(&next.digest).await.unwrap(), None);
    // A token inserted into a revoked grant is revoked too.
    let late = record(TokenKind::Access, g);
    s.insert(late.clone()).await.unwrap();
    assert_eq!(s.get(&late.digest).await.unwrap().unwrap().state, TokenState::Revoked);
}

/// revoke_grant racing a refresh rotation: either the rotation happened
/// first and its replacements are revoked, or it reports a replay and
/// stored nothing. Never an active replacement.
pub async fn revoke_grant_races_consume<B: Backend>(b: &B) {
    let s = Arc::new(b.store().await);
    for _ in 0..50 {
        let g = grant();
        let refresh = record(TokenKind::Refresh, g);
        s.insert(refresh.clone()).await.unwrap();
        let repl = vec![record(TokenKind::Access, g), record(TokenKind::Refresh, g)];
        let (s1, s2) = (s.clone(), s.clone());
        let d = refresh.digest;
        let r2 = repl.clone();
        let consume = tokio::spawn(async move { s1.consume(&d, r2).await.unwrap() });
        let revoke = tokio::spawn(async move { s2.revoke_grant(&g).await.unwrap() });
        let out = consume.await.unwrap();
        revoke.await.unwrap();
        for r in &repl {
            let got = s.get(&r.digest).await.unwrap();
            match &out {
                Consumed::Taken(_) => assert_eq!(got.unwrap().state, TokenState::Revoked),
                Consumed::Replayed(_) => assert_eq!(got, None),
                Consumed::Unknown => panic!("unknown"),
                _ => unreachable!(),
            }
        }
        assert_eq!(s.get(&refresh.digest).await.unwrap().unwrap().state, TokenState::Revoked);
    }
}

/// Every token key and grant key has a TTL: expiry + grace (60 s).
pub async fn every_key_has_a_ttl<B: Backend>(b: &B) {
    let s = b.store().await;
    let g = grant();
    let code = minted(&keyring(), TokenKind::AuthorizationCode, g, 60).1;
    s.insert(code.clone()).await.unwrap();
    let access = minted(&keyring(), TokenKind::Access, g, 600).1;
    let refresh = minted(&keyring(), TokenKind::Refresh, g, 7200).1;
    s.consume(&code.digest, vec![access.clone(), refresh.clone()]).await.unwrap();
    let in_range = |t: i64, secs: i64| t > (secs + 60 - 5) * 1000 && t <= (secs + 60 + 1) * 1000;
    let t = pttl(&s, &token_key(&s, &code.digest)).await;
    assert!(in_range(t, 60), "code ttl {t}");
    let t = pttl(&s, &token_key(&s, &access.digest)).await;
    assert!(in_range(t, 600), "access ttl {t}");
    let t = pttl(&s, &token_key(&s, &refresh.digest)).await;
    assert!(in_range(t, 7200), "refresh ttl {t}");
    // The grant key outlives every token of the grant.
    let t = pttl(&s, &grant_key(&s, &g)).await;
    assert!(in_range(t, 7200), "grant ttl {t}");
    // State changes keep the TTL.
    s.revoke_grant(&g).await.unwrap();
    let t = pttl(&s, &token_key(&s, &access.digest)).await;
    assert!(in_range(t, 600), "access ttl after revoke {t}");
    // A revoked grant with no tokens gets a marker with a TTL, too.
    let empty = grant();
    s.revoke_grant(&empty).await.unwrap();
    let t = pttl(&s, &grant_key(&s, &empty)).await;
    assert!(t > 0 && t <= 60_000, "empty grant ttl {t}");
}

/// Two prefixes on one Redis never see each other.
pub async fn prefixes_are_isolated<B: Backend>(b: &B) {
    let a = b.store().await;
    let c = b.store().await;
    let r = record(TokenKind::Access, grant());
    a.insert(r.clone()).await.unwrap();
    assert_eq!(c.get(&r.digest).await.unwrap(), None);
    c.insert(r.clone()).await.unwrap();
    c.revoke_grant(&r.digest.grant()).await.unwrap();
    assert_eq!(a.get(&r.digest).await.unwrap(), Some(r.clone()));
    assert_eq!(c.get(&r.digest).await.unwrap().unwrap().state, TokenState::Revoked);
    let client = public_client("shared-id");
    a.put_client(client).await.unwrap();
    assert!(c.client(&ClientId::new("shared-id").unwrap()).await.unwrap().is_none());
}

pub fn public_client(id: &str) -> Client {
    Client {
        id: ClientId::new(id).unwrap(),
        auth: ClientAuth::Public,
        grant_types: GrantTypes::NONE,
        scope: Scope::parse("read").unwrap(),
        default_scope: Scope::empty(),
        audiences: Arc::from(Vec::new()),
        default_audience: None,
        redirect_uris: vec!["https://app.example/cb".to_owned()].into(),
        enabled: true,
    }
}

pub async fn clients_round_trip<B: Backend>(b: &B) {
    let s = b.store().await;
    for id in ["web", "odd {tag} id", "x}y{"] {
        let cid = ClientId::new(id).unwrap();
        assert!(s.client(&cid).await.unwrap().is_none());
        s.put_client(public_client(id)).await.unwrap();
        let got = s.client(&cid).await.unwrap().unwrap();
        assert_eq!(got.id, cid);
        let mut replaced = public_client(id);
        replaced.enabled = false;
        s.put_client(replaced).await.unwrap();
        assert!(!s.client(&cid).await.unwrap().unwrap().enabled);
        assert!(s.remove_client(&cid).await.unwrap());
        assert!(!s.remove_client(&cid).await.unwrap());
        assert!(s.client(&cid).await.unwrap().is_none());
    }
    let (_secret, digest) = SecretDigest::generate().unwrap();
    let mut conf = public_client("rs");
    conf.auth = ClientAuth::Confidential { secret: digest, resource_server: None };
    s.put_client(conf).await.unwrap();
    assert!(s.client(&ClientId::new("rs").unwrap()).await.unwrap().unwrap().is_confidential());
}

/// Nothing raw at rest: after issuing tokens and registering a confidential
/// client, no key or value under the prefix contains a raw token (or its
/// body) or the raw client secret.
pub async fn nothing_raw_at_rest<B: Backend>(b: &B) {
    let s = b.store().await;
    let ring = keyring();
    let mut raws = Vec::new();
    let g = grant();
    let (raw_code, code) = minted(&ring, TokenKind::AuthorizationCode, g, 600);
    raws.push(raw_code);
    s.insert(code.clone()).await.unwrap();
    let (raw_a, a) = minted(&ring, TokenKind::Access, g, 600);
    let (raw_r, r) = minted(&ring, TokenKind::Refresh, g, 600);
    raws.extend([raw_a, raw_r]);
    s.consume(&code.digest, vec![a, r]).await.unwrap();
    let (raw_cc, cc) = minted(&ring, TokenKind::Access, grant(), 600);
    raws.push(raw_cc);
    s.insert(cc.clone()).await.unwrap();
    s.revoke(&cc.digest).await.unwrap();
    let (secret, digest) = SecretDigest::generate().unwrap();
    let mut client = public_client("rs{1}");
    client.auth = ClientAuth::Confidential { secret: digest, resource_server: None };
    s.put_client(client).await.unwrap();
    s.limiter(Default::default()).charge_for_test().await;

    let mut needles: Vec<String> = vec![secret];
    for raw in &raws {
        needles.push(raw.clone());
        // The body after "<prefix><kid>." alone would be enough to rebuild it.
        needles.push(raw.rsplit('.').next().unwrap().to_owned());
    }
    let mut seen = 0;
    for url in b.node_urls() {
        let conn = RedisConnection::connect(&url, DEFAULT_TIMEOUT).await.unwrap();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = conn
                .query(redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(format!("{}*", s.prefix())))
                .await
                .unwrap();
            for key in keys {
                seen += 1;
                let ty: String = conn.query(redis::cmd("TYPE").arg(&key)).await.unwrap();
                let mut blobs = vec![key.clone()];
                match ty.as_str() {
                    "string" => blobs.push(conn.query(redis::cmd("GET").arg(&key)).await.unwrap()),
                    "hash" => blobs
                        .extend(conn.query::<Vec<Vec<u8>>>(redis::cmd("HGETALL").arg(&key)).await.unwrap()),
                    "set" => blobs
                        .extend(conn.query::<Vec<Vec<u8>>>(redis::cmd("SMEMBERS").arg(&key)).await.unwrap()),
                    other => panic!("unexpected key type {other}"),
                }
                for blob in blobs {
                    let text = String::from_utf8_lossy(&blob);
                    for n in &needles {
                        assert!(!text.contains(n.as_str()), "raw token or secret found at rest");
                    }
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    // 4 tokens, 2 grants, 1 client, 1 limiter entry.
    assert_eq!(seen, 8, "unexpected number of keys");
}

trait ChargeForTest {
    fn charge_for_test(&self) -> impl Future<Output = ()> + Send;
}

impl ChargeForTest for gatehouse_redis::RedisLimiter {
    async fn charge_for_test(&self) {
        use gatehouse_core::FishingLimiter;
        self.reserve(&ClientId::new("rs{1}").unwrap(), now()).await.unwrap();
    }
}
