//! Each issued token draws its grant id, jti and 256 secret bits from one
//! OS random call: they must still be three independent values, and
//! different for every token.
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
