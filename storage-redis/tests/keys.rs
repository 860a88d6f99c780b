//! What Redis holds, on one node and on a cluster: every key's TTL, key
//! prefixes that keep apps apart, the grant marker that revokes late
//! inserts, nothing raw at rest, token values in the record format of
//! today and of earlier versions, and what a value that does not decode
//! answers. (The store contract is checked by the shared conformance
//! suite, `gatehouse-conformance`.)
#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::sync::Arc;

use common::{grant, keyring, minted, now, public_client, record, record_for, Backend};
use gatehouse_core::model::{
    encode_record, Claims, ClientAuth, ClientId, CodeBinding, GrantId, Jti, RecordDecodeError, Resource,
    Scope, SecretDigest, Subject, TokenDigest, TokenKind, TokenRecord, TokenState,
};
use gatehouse_core::{ClientRegistry, Consumed, ManualClock, RevokeScope, StoreError, TokenStore, UnixTime};
use gatehouse_redis::testing::{TestCluster, TestRedis};
use gatehouse_redis::{RedisConnection, RedisError, RedisStore, DEFAULT_TIMEOUT};

/// Stamps each check twice: on one node (module `one_node`) and on a
/// local 3-master cluster (module `cluster`).
macro_rules! on_one_node_and_a_cluster {
    ($($check:ident),* $(,)?) => {
        mod one_node {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(&super::TestRedis::start()).await;
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(&super::TestCluster::start()).await;
                }
            )*
        }
    };
}

on_one_node_and_a_cluster!(
    every_key_has_a_ttl,
    prefixes_are_isolated,
    a_revoked_grant_revokes_late_inserts,
    nothing_raw_at_rest,
    revocation_indexes_expire_with_their_grants,
    token_values_are_a_state_byte_and_the_binary_record,
    values_written_as_json_by_earlier_versions_still_work,
);

fn token_key(store: &RedisStore, d: &TokenDigest) -> String {
    format!("{}t:{{{}}}:{}", store.prefix(), d.grant(), d.hash_hex())
}

fn grant_key(store: &RedisStore, g: &GrantId) -> String {
    format!("{}g:{{{g}}}", store.prefix())
}

async fn pttl(store: &RedisStore, key: &str) -> i64 {
    store.connection().query(redis::cmd("PTTL").arg(key)).await.unwrap()
}

/// Every token key and grant key has a TTL: expiry + grace (60 s).
async fn every_key_has_a_ttl<B: Backend>(b: &B) {
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
async fn prefixes_are_isolated<B: Backend>(b: &B) {
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

/// A revoked grant keeps a marker (with a TTL, see above) that revokes a
/// token inserted into it later, with or without tokens of its own before.
/// The contract lets a backend store such an insert as given or revoked
/// (the core never makes one); Redis revokes it.
async fn a_revoked_grant_revokes_late_inserts<B: Backend>(b: &B) {
    let s = b.store().await;
    let g = grant();
    s.insert(record(TokenKind::Refresh, g)).await.unwrap();
    let empty = grant();
    for g in [g, empty] {
        s.revoke_grant(&g).await.unwrap();
        let late = record(TokenKind::Access, g);
        s.insert(late.clone()).await.unwrap();
        assert_eq!(s.get(&late.digest).await.unwrap().unwrap().state, TokenState::Revoked);
    }
}

/// Nothing raw at rest: after issuing tokens and registering a confidential
/// client, no key or value under the prefix contains a raw token (or its
/// body) or the raw client secret.
async fn nothing_raw_at_rest<B: Backend>(b: &B) {
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
    client.auth = ClientAuth::Confidential { secret: digest, resource_server: None, previous: None };
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
                    "zset" => blobs.extend(
                        conn.query::<Vec<Vec<u8>>>(redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1))
                            .await
                            .unwrap(),
                    ),
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
    // 4 tokens, 2 grants, 1 client, the client index, 1 limiter entry,
    // and the bulk-revocation indexes of the tokens' one client and one
    // subject.
    assert_eq!(seen, 11, "unexpected number of keys");
}

/// The bulk-revocation indexes hold live grants only: an entry is dropped
/// by the first index write after its grant's end plus the grace, the key
/// lives until the latest end plus the grace, and `revoke_all` removes the
/// grants it revoked. (Time is a manual clock given to the store.)
async fn revocation_indexes_expire_with_their_grants<B: Backend>(b: &B) {
    let t0 = now();
    let clock = ManualClock::new(t0);
    let s = b.store().await.with_clock(clock.clone());
    let conn = s.connection().clone();
    let (index, subject_index) = (format!("{}k:web-app", s.prefix()), format!("{}s:alice", s.prefix()));
    let card = |key: String| {
        let conn = conn.clone();
        async move { conn.query::<i64>(redis::cmd("ZCARD").arg(key)).await.unwrap() }
    };
    let mut short = record(TokenKind::Access, grant());
    short.expires_at = t0.plus(10);
    s.insert(short).await.unwrap();
    let ttl = pttl(&s, &index).await;
    assert!((60_000..=70_000).contains(&ttl), "index TTL {ttl} ms: the grant's 10 s and the 60 s grace");
    let long = record(TokenKind::Access, grant());
    s.insert(long.clone()).await.unwrap();
    assert_eq!((card(index.clone()).await, card(subject_index.clone()).await), (2, 2));
    // Past the short grant's end and the grace: the next write drops it.
    clock.set(t0.plus(10 + 60 + 1));
    let next = record(TokenKind::Access, grant());
    s.insert(next).await.unwrap();
    assert_eq!(card(index.clone()).await, 2, "an index entry outlived its grant");
    assert!(pttl(&s, &index).await > 3_000_000, "the index must live as long as its latest grant");
    let n = s.revoke_all(&RevokeScope::Subject(Subject::new("alice").unwrap())).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(card(subject_index).await, 0, "revoke_all must drop the grants it revoked");
    assert_eq!(s.get(&long.digest).await.unwrap().unwrap().state, TokenState::Revoked);
}

/// A value that does not decode is `Corrupt`, with the crate's error as its
/// source: the key and where the JSON broke, never the stored text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_value_is_reported_without_its_contents() {
    let redis = TestRedis::start();
    let s = redis.store().await;
    let (bad_json, moved, bad_state, empty) = (
        record(TokenKind::Access, grant()),
        record(TokenKind::Access, grant()),
        record(TokenKind::Access, grant()),
        record(TokenKind::Access, grant()),
    );
    for r in [&bad_json, &moved, &bad_state, &empty] {
        s.insert(r.clone()).await.unwrap();
    }
    s.put_client(public_client("corrupt")).await.unwrap();
    let set = |key: String, value: Vec<u8>| {
        let conn = s.connection().clone();
        async move { conn.query::<()>(redis::cmd("SET").arg(key).arg(value)).await.unwrap() }
    };
    set(token_key(&s, &bad_json.digest), b"a{not json, sensitive-looking".to_vec()).await;
    let mut copied = b"a".to_vec();
    copied.extend(serde_json::to_vec(&bad_json).unwrap());
    set(token_key(&s, &moved.digest), copied).await;
    set(token_key(&s, &bad_state.digest), b"x{}".to_vec()).await;
    set(token_key(&s, &empty.digest), Vec::new()).await;
    let client_keys: (u64, Vec<String>) = s
        .connection()
        .query(
            redis::cmd("SCAN").arg(0).arg("MATCH").arg(format!("{}c:*", s.prefix())).arg("COUNT").arg(1000),
        )
        .await
        .unwrap();
    assert_eq!(client_keys.1.len(), 1, "{client_keys:?}");
    for key in client_keys.1 {
        set(key, b"{\"id\": \"sensitive-looking\"".to_vec()).await;
    }

    for (digest, expected) in [
        (bad_json.digest, "syntax"),
        (moved.digest, "moved"),
        (bad_state.digest, "state"),
        (empty.digest, "empty"),
    ] {
        let e = s.get(&digest).await.unwrap_err();
        let cause = corrupt_cause(&e, "token record");
        let shown = format!("{e} / {cause} / {e:?}");
        assert!(!shown.contains("sensitive"), "{shown}");
        assert!(shown.contains(&digest.grant().to_string()), "{shown}");
        match (cause, expected) {
            (
                RedisError::Record { source: RecordDecodeError::Json { category: "syntax", .. }, .. },
                "syntax",
            )
            | (RedisError::KeyMismatch { .. }, "moved")
            | (RedisError::UnknownState { value: Some(b'x'), .. }, "state")
            | (RedisError::UnknownState { value: None, .. }, "empty") => {}
            (other, _) => panic!("{expected}: unexpected cause {other:?}"),
        }
    }
    // A corrupt record is not consumed: the caller gets the error.
    assert!(matches!(s.consume(&bad_json.digest, vec![]).await, Err(StoreError::Corrupt { .. })));
    let e = s.client(&ClientId::new("corrupt").unwrap()).await.unwrap_err();
    let cause = corrupt_cause(&e, "client");
    assert!(matches!(cause, RedisError::Json { category: "eof", .. }), "{cause:?}");
    assert!(!format!("{e} / {cause} / {e:?}").contains("sensitive"));
    // A client copied under another id's key does not answer for that id.
    let other = serde_json::to_vec(&public_client("someone-else")).unwrap();
    set(format!("{}c:corrupt", s.prefix()), other).await;
    let e = s.client(&ClientId::new("corrupt").unwrap()).await.unwrap_err();
    assert!(matches!(corrupt_cause(&e, "client"), RedisError::KeyMismatch { what: "client", .. }), "{e:?}");
}

/// The [`RedisError`] inside a [`StoreError::Corrupt`] about `what`.
fn corrupt_cause<'a>(e: &'a StoreError, what: &str) -> &'a RedisError {
    let StoreError::Corrupt { what: w, source: Some(source) } = e else {
        panic!("expected Corrupt, got {e:?}")
    };
    assert_eq!(*w, what);
    source.downcast_ref::<RedisError>().unwrap()
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

/// A token's value: the state byte the scripts patch, then the core's
/// binary record, which no state change touches.
async fn token_values_are_a_state_byte_and_the_binary_record<B: Backend>(b: &B) {
    let s = b.store().await;
    let r = record(TokenKind::Access, grant());
    s.insert(r.clone()).await.unwrap();
    let key = token_key(&s, &r.digest);
    let value = |s: RedisStore, key: String| async move {
        s.connection().query::<Vec<u8>>(redis::cmd("GET").arg(key)).await.unwrap()
    };
    let mut want = vec![b'a'];
    want.extend_from_slice(&encode_record(&r));
    assert_eq!(value(s.clone(), key.clone()).await, want);
    s.revoke(&r.digest).await.unwrap();
    want[0] = b'r';
    assert_eq!(value(s.clone(), key.clone()).await, want);
}

/// Two token values as earlier versions wrote them: a state byte, then
/// `serde_json::to_string(&record)` (copied from that code's output). An
/// authorization code of grant `[7; 16]`, then an access token of grant
/// `[8; 16]`.
const OLD_VALUES: [&str; 2] = [
    r#"a{"digest":"BwcHBwcHBwcHBwcHBwcHBw.abababababababababababababababababababababababababababababababab","kind":"authorization_code","client_id":"web app","subject":"alice","scope":"read write","audience":["https://api.example"],"issued_at":1700000000,"not_before":1700000000,"expires_at":1700000060,"jti":"AwMDAwMDAwMDAwMDAwMDAw","state":"active","code":{"redirect_uri":"https://app.example/cb?x=1","code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}}"#,
    r#"a{"digest":"CAgICAgICAgICAgICAgICA.cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","kind":"access","client_id":"app","subject":null,"scope":"read","audience":["https://api.example"],"issued_at":1700000000,"not_before":1700000000,"expires_at":1700003600,"jti":"BAQEBAQEBAQEBAQEBAQEBA","state":"active","code":null}"#,
];

/// What `OLD_VALUES` hold, built with today's constructors.
fn old_records() -> [TokenRecord; 2] {
    let api: Arc<[Resource]> = [Resource::new("https://api.example").unwrap()].into();
    let code = TokenRecord::code(
        TokenDigest::new(GrantId::from_bytes([7; 16]), [0xab; 32]),
        Jti::from_bytes([3; 16]),
        Claims::new(ClientId::new("web app").unwrap(), Scope::parse("read write").unwrap(), api.clone())
            .with_subject(Subject::new("alice").unwrap()),
        CodeBinding {
            redirect_uri: "https://app.example/cb?x=1".to_owned(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        },
        UnixTime(1_700_000_000),
        UnixTime(1_700_000_060),
    );
    let access = TokenRecord::access(
        TokenDigest::new(GrantId::from_bytes([8; 16]), [0xcd; 32]),
        Jti::from_bytes([4; 16]),
        Claims::new(ClientId::new("app").unwrap(), Scope::parse("read").unwrap(), api),
        UnixTime(1_700_000_000),
        UnixTime(1_700_003_600),
    );
    [code, access]
}

/// Values stored by earlier versions read as before, and every script
/// (consume, revoke, revoke-grant) works on them: none reads past the
/// state byte.
async fn values_written_as_json_by_earlier_versions_still_work<B: Backend>(b: &B) {
    let s = b.store().await;
    let [code, access] = old_records();
    for (r, v) in [&code, &access].into_iter().zip(OLD_VALUES) {
        // As the insert script of earlier versions stored them.
        let key = token_key(&s, &r.digest);
        s.connection().query::<()>(redis::cmd("SET").arg(&key).arg(v).arg("PX").arg(600_000)).await.unwrap();
        let g = grant_key(&s, &r.digest.grant());
        s.connection()
            .query::<()>(redis::cmd("HSET").arg(&g).arg(r.digest.hash_hex()).arg("1"))
            .await
            .unwrap();
        s.connection().query::<()>(redis::cmd("PEXPIRE").arg(&g).arg(600_000)).await.unwrap();
    }
    assert_eq!(s.get(&code.digest).await.unwrap(), Some(code.clone()));
    assert_eq!(s.get(&access.digest).await.unwrap(), Some(access.clone()));

    let next = record_for(TokenDigest::new(code.digest.grant(), [0x11; 32]), TokenKind::Refresh, 600);
    assert_eq!(s.consume(&code.digest, vec![next.clone()]).await.unwrap(), Consumed::Taken(code.clone()));
    let mut consumed = code.clone();
    consumed.state = TokenState::Consumed;
    assert_eq!(s.consume(&code.digest, vec![]).await.unwrap(), Consumed::Replayed(consumed));
    assert_eq!(s.get(&next.digest).await.unwrap(), Some(next.clone()));

    assert!(s.revoke(&access.digest).await.unwrap());
    let mut revoked = access.clone();
    revoked.state = TokenState::Revoked;
    assert_eq!(s.get(&access.digest).await.unwrap(), Some(revoked));
    s.revoke_grant(&code.digest.grant()).await.unwrap();
    assert_eq!(s.get(&next.digest).await.unwrap().unwrap().state, TokenState::Revoked);
    assert_eq!(s.get(&code.digest).await.unwrap().unwrap().state, TokenState::Revoked);
    // The old value's JSON is untouched by the state changes.
    let raw: Vec<u8> =
        s.connection().query(redis::cmd("GET").arg(token_key(&s, &code.digest))).await.unwrap();
    assert_eq!(&raw[1..], &OLD_VALUES[0].as_bytes()[1..]);
}
