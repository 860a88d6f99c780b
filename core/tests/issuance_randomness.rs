//! Each issued token draws its grant id's random part, jti and 256 secret
//! bits from one OS random call: they must still be independent values,
//! and different for every token. The grant id starts with the issuing
//! millisecond (`GrantId::time_ordered`), for issuance and for codes.
#![allow(missing_docs, clippy::unwrap_used)]

use base64::Engine as _;
use gatehouse_core::model::{Client, ClientId, GrantType, Resource, SecretDigest};
use gatehouse_core::{AuthServer, ClientRegistry, Config, Keyring, TokenStore};
use gatehouse_memory::MemoryStore;

#[tokio::test]
async fn grant_jti_and_secret_bits_are_distinct_and_fresh() {
    let keys = Keyring::random().unwrap();
    let server = AuthServer::new(MemoryStore::new(), keys.clone(), Config::new("https://issuer.example"));
    let (_, digest) = SecretDigest::generate().unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), digest)
        .with_grants([GrantType::ClientCredentials])
        .with_audiences([Resource::new("https://api.example").unwrap()]);
    server.store().put_client(app.clone()).await.unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let issued = server.client_credentials(&app, None, &[]).await.unwrap();
        let token = issued.access_token.expose();
        let verified = keys.verify(token).unwrap();
        let record = server.store().get(&verified.digest).await.unwrap().unwrap();
        let grant = *verified.digest.grant().as_bytes();
        let jti = *record.jti.as_bytes();
        let body = token.rsplit_once('.').unwrap().1;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).unwrap();
        let (token_grant, secret) = (&bytes[..16], &bytes[16..48]);
        assert_eq!(token_grant, grant, "the token carries its grant");
        assert_ne!(grant, jti, "grant id and jti are different draws");
        assert!(!secret.windows(16).any(|w| w == grant || w == jti), "secret bits are their own draw");
        for v in [grant.to_vec(), jti.to_vec(), secret.to_vec()] {
            assert!(seen.insert(v), "a value repeated across tokens");
        }
    }
}

/// A clock at a fixed millisecond, so the test knows the issuing instant.
struct FixedMillis(u64);

impl gatehouse_core::Clock for FixedMillis {
    fn now(&self) -> gatehouse_core::UnixTime {
        gatehouse_core::UnixTime(self.0 / 1000)
    }

    fn now_millis(&self) -> u64 {
        self.0
    }
}

const T_MS: u64 = 1_796_159_974_123;

fn grant_of(keys: &Keyring, token: &str) -> [u8; 16] {
    *keys.verify(token).unwrap().digest.grant().as_bytes()
}

/// New grant ids start with the issuing millisecond (big-endian), so a
/// store's inserts append; the rest is random, and `iat` is that instant.
#[tokio::test]
async fn client_credentials_grant_ids_start_with_the_issuing_millisecond() {
    let keys = Keyring::random().unwrap();
    let server = AuthServer::new(MemoryStore::new(), keys.clone(), Config::new("https://issuer.example"))
        .with_clock(FixedMillis(T_MS));
    let (_, digest) = SecretDigest::generate().unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), digest)
        .with_grants([GrantType::ClientCredentials])
        .with_audiences([Resource::new("https://api.example").unwrap()]);
    server.store().put_client(app.clone()).await.unwrap();
    let mut tails = std::collections::HashSet::new();
    for _ in 0..20 {
        let issued = server.client_credentials(&app, None, &[]).await.unwrap();
        let grant = grant_of(&keys, issued.access_token.expose());
        assert_eq!(grant[..6], T_MS.to_be_bytes()[2..], "the time prefix");
        assert!(tails.insert(grant[6..].to_vec()), "the random part repeated");
        let verified = keys.verify(issued.access_token.expose()).unwrap();
        let record = server.store().get(&verified.digest).await.unwrap().unwrap();
        assert_eq!(record.issued_at.0, T_MS / 1000);
    }
}

#[tokio::test]
async fn authorization_code_grant_ids_start_with_the_issuing_millisecond() {
    let keys = Keyring::random().unwrap();
    let server = AuthServer::new(MemoryStore::new(), keys.clone(), Config::new("https://issuer.example"))
        .with_clock(FixedMillis(T_MS));
    let spa = Client::new_public(ClientId::new("spa").unwrap())
        .with_grants([GrantType::AuthorizationCode])
        .with_audiences([Resource::new("https://api.example").unwrap()])
        .with_redirect_uris(["https://spa.example/cb".to_owned()]);
    server.store().put_client(spa).await.unwrap();
    let query = "response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fspa.example%2Fcb\
                 &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let req = gatehouse_core::AuthorizationRequest::from_query(query).unwrap();
    let alice = gatehouse_core::model::Subject::new("alice").unwrap();
    let url = server.authorize(&req, &alice).await.unwrap();
    let code = url.split(['?', '&']).find_map(|p| p.strip_prefix("code=")).unwrap();
    let grant = grant_of(&keys, code);
    assert_eq!(grant[..6], T_MS.to_be_bytes()[2..], "the time prefix in {url}");
}
