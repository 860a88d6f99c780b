//! The world both core benches measure: a memory-store server filled with
//! client_credentials tokens, an app, a resource server, and one valid, one
//! unknown (well-formed, never stored) and one forged token.
// Each bench uses part of it.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use gatehouse_core::model::{Client, ClientId, GrantId, GrantType, Resource, Scope, SecretDigest, TokenKind};
use gatehouse_core::{AuthServer, ClientRegistry, Config, Keyring, LimiterConfig, NoAudit};
use gatehouse_memory::MemoryStore;

/// Drives a future that the memory store and limiter make ready at once: one
/// poll, no executor in the figures.
pub(crate) fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("memory-store futures are always ready"),
    }
}

pub(crate) struct Setup {
    pub(crate) server: AuthServer<MemoryStore>,
    pub(crate) keys: Keyring,
    pub(crate) app: Client,
    pub(crate) rs: Client,
    pub(crate) rs_secret: String,
    pub(crate) rs_basic: String,
    pub(crate) app_basic: String,
    pub(crate) valid: String,
    pub(crate) unknown: String,
    pub(crate) forged: String,
}

/// A server holding `n` tokens; `valid` is the middle one.
pub(crate) fn setup(n: usize) -> Setup {
    setup_with(n, false)
}

/// Like [`setup`]; with `audit`, the server has a sink installed that
/// records nothing ([`NoAudit`]): the cost of building and handing over
/// each event, against no sink at all.
pub(crate) fn setup_with(n: usize, audit: bool) -> Setup {
    let mut config = Config::new("https://issuer.example");
    // Never throttle: measure the work, not the limiter's refusal.
    config.limiter = LimiterConfig { burst: u32::MAX, per_minute: 60_000 };
    let keys = Keyring::random().expect("random");
    let server = AuthServer::new(MemoryStore::new(), keys.clone(), config);
    let server = if audit { server.with_audit(NoAudit) } else { server };
    let api = Resource::new("https://api.example").expect("resource");
    let (app_secret, app_digest) = SecretDigest::generate().expect("random");
    let app = Client::new_confidential(ClientId::new("app").expect("id"), app_digest)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read write").expect("scope"), Scope::parse("read").expect("scope"))
        .with_audiences([api.clone()]);
    let (rs_secret, rs_digest) = SecretDigest::generate().expect("random");
    let rs = Client::new_resource_server(ClientId::new("rs").expect("id"), rs_digest, [api]);
    ready(server.store().put_client(app.clone())).expect("put");
    ready(server.store().put_client(rs.clone())).expect("put");
    let mut valid = String::new();
    for i in 0..n {
        let t = ready(server.client_credentials(&app, None, &[])).expect("issue");
        if i == n / 2 {
            valid = t.access_token.into_string();
        }
    }
    let (unknown, _) = keys.mint(TokenKind::Access, GrantId::generate().expect("random")).expect("mint");
    let mut forged = valid.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let basic = |id: &str, secret: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
    };
    Setup {
        server,
        keys,
        rs_basic: basic("rs", &rs_secret),
        app_basic: basic("app", &app_secret),
        rs_secret,
        app,
        rs,
        valid,
        unknown: unknown.into_string(),
        forged: String::from_utf8(forged).expect("ascii"),
    }
}
