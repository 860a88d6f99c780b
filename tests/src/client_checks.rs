//! The client lifecycle on every backend: paged listing, the seed marker,
//! and the operator's calls through [`AuthServer`](gatehouse_core::AuthServer) (read, disable and
//! enable, remove, rotate a secret with an overlap).

use std::collections::BTreeSet;

use gatehouse_core::model::{Client, ClientAuth, ClientId};
use gatehouse_core::{ClientRegistry, SecretRotation, UnixTime};

use crate::fixtures::{self, client_json};
use crate::world::{ids, World};
use crate::Harness;

/// Every page from the start with `limit`, checking each page's size and
/// that the cursor moves forward. Panics after more pages than clients.
async fn pages<S: ClientRegistry>(s: &S, after: Option<ClientId>, limit: usize) -> Vec<Vec<Client>> {
    let mut out = Vec::new();
    let mut after = after;
    for _ in 0..100 {
        let page = s.list_clients(after.as_ref(), limit).await.expect("list_clients failed");
        assert!(
            page.clients.len() <= limit.max(1),
            "a page of {} clients for limit {limit}",
            page.clients.len()
        );
        out.push(page.clients);
        match page.next {
            None => return out,
            Some(next) => {
                assert!(after.as_ref().is_none_or(|a| next > *a), "the cursor did not move forward");
                after = Some(next);
            }
        }
    }
    panic!("list_clients never reached the end (next was never None)");
}

fn ids_of(pages: &[Vec<Client>]) -> Vec<String> {
    pages.iter().flatten().map(|c| c.id.as_str().to_owned()).collect()
}

/// Listing visits every client once, in ascending byte order of id, in
/// pages of at most `limit`, each client as `client` returns it; `next`
/// is `None` at the end; a limit of 0 is taken as 1; an empty registry is
/// one empty page.
pub async fn list_clients_pages_in_id_order<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let empty = s.list_clients(None, 10).await.expect("list_clients failed");
    assert!(empty.clients.is_empty() && empty.next.is_none(), "an empty registry lists nothing: {empty:?}");
    let names = ["m", "a", "odd {tag} id", "Z", "a0", "x}y{", "~", "0", "a-b"];
    let mut registered = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let c = match i % 2 {
            0 => fixtures::public_client(name),
            _ => fixtures::confidential_client(name).1,
        };
        s.put_client(c.clone()).await.expect("put_client failed");
        registered.push(c);
    }
    let mut sorted: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    sorted.sort();
    for limit in [0, 1, 2, 3, names.len(), names.len() + 5] {
        let pages = pages(&s, None, limit).await;
        assert_eq!(ids_of(&pages), sorted, "listing with limit {limit}");
        let full = pages.iter().filter(|p| p.len() == limit.max(1)).count();
        assert!(full + 1 >= pages.len(), "limit {limit}: short pages before the end: {pages:?}");
    }
    // One page holding everything ends the listing.
    let all = s.list_clients(None, names.len()).await.expect("list_clients failed");
    assert!(all.next.is_none(), "a page holding every client must have no next");
    for c in &registered {
        let listed = all.clients.iter().find(|l| l.id == c.id).expect("listed");
        assert_eq!(client_json(listed), client_json(c), "a listed client must be the registered one");
    }
    // From a cursor: only greater ids, whether or not the cursor is registered.
    let after = fixtures::client_id("a0");
    assert_eq!(
        ids_of(&pages(&s, Some(after), 2).await),
        sorted[sorted.iter().position(|i| i == "a0").unwrap_or(0) + 1..]
    );
    assert_eq!(
        ids_of(&pages(&s, Some(fixtures::client_id("b")), 100).await),
        ["m", "odd {tag} id", "x}y{", "~"]
    );
    assert!(ids_of(&pages(&s, Some(fixtures::client_id("~~")), 3).await).is_empty());
    // A removed client is no longer listed.
    assert!(s.remove_client(&fixtures::client_id("m")).await.expect("remove_client failed"));
    assert!(!ids_of(&pages(&s, None, 2).await).contains(&"m".to_owned()), "a removed client is still listed");
}

/// Clients that stay registered while a listing pages through are each
/// visited exactly once, whatever is added or removed between pages.
pub async fn list_clients_survives_changes_between_pages<H: Harness>(h: &H) {
    let s = h.fresh().await;
    for i in 0..10 {
        s.put_client(fixtures::public_client(&format!("c{i}"))).await.expect("put_client failed");
    }
    let first = s.list_clients(None, 4).await.expect("list_clients failed");
    let mut seen: Vec<String> = first.clients.iter().map(|c| c.id.as_str().to_owned()).collect();
    assert_eq!(seen, ["c0", "c1", "c2", "c3"]);
    // Before the cursor, after it, and the cursor itself.
    s.put_client(fixtures::public_client("c00")).await.expect("put_client failed");
    s.put_client(fixtures::public_client("c55")).await.expect("put_client failed");
    assert!(s.remove_client(&fixtures::client_id("c3")).await.expect("remove_client failed"));
    assert!(s.remove_client(&fixtures::client_id("c7")).await.expect("remove_client failed"));
    let rest = pages(&s, first.next, 3).await;
    seen.extend(ids_of(&rest));
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a client was listed twice: {seen:?}");
    for stayed in ["c0", "c1", "c2", "c4", "c5", "c6", "c8", "c9"] {
        assert!(seen.iter().any(|s| s == stayed), "{stayed} stayed registered but was not listed: {seen:?}");
    }
    assert!(!ids_of(&rest).contains(&"c7".to_owned()), "c7 was removed before its page was read");
    assert!(ids_of(&rest).contains(&"c55".to_owned()), "c55 was added before its page was read");
}

/// The seed marker: absent in a fresh store, then what was last set;
/// independent of the clients (setting it keeps them, removing them keeps
/// it).
pub async fn seed_marker_round_trips<H: Harness>(h: &H) {
    let s = h.fresh().await;
    assert_eq!(s.seeded_at().await.expect("seeded_at failed"), None, "a fresh store was never seeded");
    s.set_seeded_at(UnixTime(1_700_000_000)).await.expect("set_seeded_at failed");
    assert_eq!(s.seeded_at().await.expect("seeded_at failed"), Some(UnixTime(1_700_000_000)));
    let c = fixtures::public_client("seeded");
    s.put_client(c.clone()).await.expect("put_client failed");
    s.set_seeded_at(UnixTime(1_800_000_000)).await.expect("set_seeded_at failed");
    assert_eq!(s.seeded_at().await.expect("seeded_at failed"), Some(UnixTime(1_800_000_000)), "set replaces");
    assert!(
        s.client(&c.id).await.expect("client failed").is_some(),
        "setting the marker changed the clients"
    );
    assert!(s.remove_client(&c.id).await.expect("remove_client failed"));
    assert_eq!(s.seeded_at().await.expect("seeded_at failed"), Some(UnixTime(1_800_000_000)));
}

/// Rotation through the server: the new secret works at once and is
/// stored only as a digest; the old one until the deadline, then never.
pub async fn rotated_secret_overlaps_until_the_deadline<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let app = fixtures::client_id(ids::APP);
    let old = w.secret(ids::APP).to_owned();
    let deadline = w.t0.plus(600);
    let new = match w.server.rotate_client_secret(&app, deadline).await.expect("rotate") {
        SecretRotation::Rotated { secret, previous_until } => {
            assert_eq!(previous_until, Some(deadline));
            secret.into_string()
        }
        other => panic!("{} was not rotated: {other:?}", ids::APP),
    };
    let status = |secret: String| {
        let w = &w;
        async move {
            let auth = crate::world::basic(ids::APP, &secret);
            let body = b"grant_type=client_credentials";
            w.server
                .token_endpoint(gatehouse_core::HttpRequest::form_post(body).with_authorization(&auth))
                .await
                .status
        }
    };
    assert_eq!(
        (status(new.clone()).await, status(old.clone()).await),
        (200, 200),
        "both work during the overlap"
    );
    w.clock.set(deadline.minus(1));
    assert_eq!(status(old.clone()).await, 200, "the old secret must work until the deadline");
    w.clock.set(deadline);
    assert_eq!(status(old.clone()).await, 401, "the old secret must stop at the deadline");
    assert_eq!(status(new.clone()).await, 200);
    let stored = w.client(ids::APP).await;
    let json = client_json(&stored).to_string();
    assert!(!json.contains(&new) && !json.contains(&old), "a raw secret is stored: {json}");
    assert!(matches!(&stored.auth, ClientAuth::Confidential { secret, .. } if secret.verify(&new)));
    let public = fixtures::client_id(ids::MOBILE);
    assert!(matches!(
        w.server.rotate_client_secret(&public, deadline).await,
        Ok(SecretRotation::PublicClient)
    ));
    let nobody = fixtures::client_id("nobody");
    assert!(matches!(
        w.server.rotate_client_secret(&nobody, deadline).await,
        Ok(SecretRotation::UnknownClient)
    ));
    assert!(
        w.server.client(&nobody).await.expect("client").is_none(),
        "rotating an unknown id registered it"
    );
}

/// Disable, enable and remove through the server: a disabled client is
/// refused and its tokens introspect inactive; enabled again, both come
/// back; removed, it is gone from reads and listings.
pub async fn disable_enable_remove_through_the_server<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let app = fixtures::client_id(ids::APP);
    let token = w.issue_default().await;
    assert!(w.server.set_client_enabled(&app, false).await.expect("disable"));
    assert!(!w.client(ids::APP).await.enabled, "the client must read disabled");
    assert_eq!(
        w.token(ids::APP, "grant_type=client_credentials").await.status,
        401,
        "a disabled client was served"
    );
    assert!(!w.introspect(ids::RS, &token).await.is_active(), "a disabled client's token is active");
    assert!(w.server.set_client_enabled(&app, true).await.expect("enable"));
    assert!(w.introspect(ids::RS, &token).await.is_active(), "enabled again, its token must be active");
    assert_eq!(w.token(ids::APP, "grant_type=client_credentials").await.status, 200);
    assert!(!w
        .server
        .set_client_enabled(&fixtures::client_id("nobody"), false)
        .await
        .expect("set_client_enabled"));
    assert!(w.server.remove_client(&app).await.expect("remove"));
    assert!(w.server.client(&app).await.expect("client").is_none());
    let listed = w.server.list_clients(None, 1000).await.expect("list");
    assert!(listed.clients.iter().all(|c| c.id != app), "a removed client is still listed");
    assert!(
        listed.clients.iter().any(|c| c.id.as_str() == ids::RS),
        "the other clients must still be listed"
    );
    assert_eq!(w.token(ids::APP, "grant_type=client_credentials").await.status, 401);
    assert!(!w.server.remove_client(&app).await.expect("remove"), "removing twice must report false");
}
