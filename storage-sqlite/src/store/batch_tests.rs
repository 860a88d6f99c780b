//! Writes of every kind queued together through the store's own methods:
//! the writer applies them as one batch, in queue order (`src/writer.rs`),
//! and each request gets its own answer. To put them in one batch, a
//! request holds the writer thread until all of them are queued. A writer
//! that applies a run of inserts together (measured, not adopted: README,
//! *Multi-row inserts*) must keep these answers.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};

use gatehouse_core::model::{Claims, ClientId, GrantId, Jti, Scope, TokenKind, TokenRecord, TokenState};
use gatehouse_core::{Consumed, KeyId, Keyring, StoreError, TokenStore, UnixTime};

use super::SqliteStore;
use crate::oneshot::{block_on, Receiver};

/// A store in a fresh directory, removed on drop.
struct Fixture {
    dir: PathBuf,
    store: Option<SqliteStore>,
    keys: Keyring,
}

impl Fixture {
    fn new(tag: &str) -> Self {
        let unique = GrantId::generate().unwrap();
        let dir = std::env::temp_dir().join(format!("gatehouse-sqlite-{tag}-{unique}"));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(dir.join("tokens.db")).unwrap();
        let keys = Keyring::new((KeyId::new("k1").unwrap(), &[7u8; 32]), &[]).unwrap();
        Self { dir, store: Some(store), keys }
    }

    fn store(&self) -> &SqliteStore {
        self.store.as_ref().unwrap()
    }

    /// An active record of `kind` in `grant`, expiring at `exp`.
    fn record(&self, kind: TokenKind, grant: GrantId, exp: u64) -> TokenRecord {
        let (_, digest) = self.keys.mint(kind, grant).unwrap();
        let claims =
            Claims::new(ClientId::new("client-1").unwrap(), Scope::parse("read").unwrap(), Arc::from([]));
        let (jti, issued) = (Jti::generate().unwrap(), UnixTime(1_000));
        match kind {
            TokenKind::Refresh => TokenRecord::refresh(digest, jti, claims, issued, UnixTime(exp)),
            _ => TokenRecord::access(digest, jti, claims, issued, UnixTime(exp)),
        }
    }

    fn access(&self) -> TokenRecord {
        self.record(TokenKind::Access, GrantId::generate().unwrap(), 10_000)
    }

    fn state(&self, r: &TokenRecord) -> Option<TokenState> {
        block_on(self.store().get(&r.digest)).unwrap().map(|got| got.state)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.store.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Holds the writer thread inside a request of its own until the returned
/// sender is dropped: the requests queued meanwhile make its next batch.
fn hold_writer(store: &SqliteStore) -> (mpsc::Sender<()>, Receiver<Result<(), StoreError>>) {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let held = store.conns.write(move |_| {
        let _ = started_tx.send(());
        let _ = released.recv();
        Ok(())
    });
    started.recv().unwrap();
    (release, held)
}

/// A write's answer, whatever the write.
#[derive(Debug)]
enum Answer {
    Done(Result<(), StoreError>),
    Consumed(Result<Consumed, StoreError>),
    Revoked(Result<bool, StoreError>),
}

type Pending<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// Polls `f` once, which queues its write, and keeps it to be awaited.
fn queued<'a, T: 'a>(f: impl Future<Output = T> + Send + 'a, answer: fn(T) -> Answer) -> Pending<'a> {
    let mut f: Pending<'a> = Box::pin(async move { answer(f.await) });
    assert!(f.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending(), "a write was not queued");
    f
}

/// Awaits all of `pending` together: the writer wakes one task of a batch
/// and leaves the others to it (`oneshot::wake_all`), so awaiting them one
/// by one could wait forever on a task that is not polled yet.
fn answers(mut pending: Vec<Pending<'_>>) -> Vec<Answer> {
    let mut out: Vec<Option<Answer>> = pending.iter().map(|_| None).collect();
    block_on(std::future::poll_fn(|cx| {
        let mut done = true;
        for (f, slot) in pending.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(a) => *slot = Some(a),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    out.into_iter().map(Option::unwrap).collect()
}

#[test]
fn inserts_batched_with_an_existing_key_fail_only_that_one() {
    let fx = Fixture::new("batch-conflict");
    let store = fx.store();
    let existing = fx.access();
    block_on(store.insert(existing.clone())).unwrap();
    // The same key with another record: it must not overwrite the first.
    let mut again = existing.clone();
    again.expires_at = UnixTime(20_000);
    let fresh: Vec<TokenRecord> = (0..20).map(|_| fx.access()).collect();

    let (release, held) = hold_writer(store);
    // Queued in this order: the existing key tenth, among fresh ones.
    let mut pending = Vec::new();
    for (i, r) in fresh.iter().enumerate() {
        if i == 9 {
            pending.push(queued(store.insert(again.clone()), Answer::Done));
        }
        pending.push(queued(store.insert(r.clone()), Answer::Done));
    }
    drop(release);
    block_on(held).unwrap();

    for (i, r) in answers(pending).iter().enumerate() {
        if i == 9 {
            assert!(matches!(r, Answer::Done(Err(StoreError::Conflict))), "the existing key: {r:?}");
        } else {
            assert!(matches!(r, Answer::Done(Ok(()))), "request {i}: {r:?}");
        }
    }
    assert_eq!(block_on(store.get(&existing.digest)).unwrap(), Some(existing));
    for r in &fresh {
        assert_eq!(block_on(store.get(&r.digest)).unwrap().as_ref(), Some(r));
    }
}

#[test]
fn inserts_batched_with_consume_and_revocations_see_the_writes_queued_before_them() {
    let fx = Fixture::new("batch-order");
    let store = fx.store();
    let grant = GrantId::generate().unwrap();
    let code = fx.record(TokenKind::Access, grant, 10_000);
    let rotated = fx.record(TokenKind::Refresh, grant, 10_000);
    let (b, c, d) = (fx.access(), fx.access(), fx.access());

    let d_grant = d.digest.grant();
    let (release, held) = hold_writer(store);
    let pending = vec![
        queued(store.insert(code.clone()), Answer::Done),
        queued(store.insert(b.clone()), Answer::Done),
        // Each of these finds what the requests queued before it wrote.
        queued(store.consume(&code.digest, vec![rotated.clone()]), Answer::Consumed),
        queued(store.insert(c.clone()), Answer::Done),
        queued(store.revoke(&b.digest), Answer::Revoked),
        queued(store.insert(code.clone()), Answer::Done),
        queued(store.insert(d.clone()), Answer::Done),
        queued(store.insert(rotated.clone()), Answer::Done),
        queued(store.revoke_grant(&d_grant), Answer::Done),
        queued(store.consume(&code.digest, Vec::new()), Answer::Consumed),
    ];
    drop(release);
    block_on(held).unwrap();

    let got = answers(pending);
    let summary: Vec<&str> = got
        .iter()
        .map(|a| match a {
            Answer::Done(Ok(())) => "done",
            Answer::Done(Err(StoreError::Conflict)) => "conflict",
            Answer::Consumed(Ok(Consumed::Taken(before))) if *before == code => "took the code",
            Answer::Consumed(Ok(Consumed::Replayed(_))) => "replayed",
            Answer::Revoked(Ok(true)) => "revoked",
            _ => "unexpected",
        })
        .collect();
    let expected = [
        "done",
        "done",
        "took the code",
        "done",
        "revoked",
        "conflict",
        "done",
        "conflict",
        "done",
        "replayed",
    ];
    assert_eq!(summary, expected, "{got:?}");

    assert_eq!(fx.state(&code), Some(TokenState::Consumed));
    assert_eq!(fx.state(&rotated), Some(TokenState::Active));
    assert_eq!(fx.state(&b), Some(TokenState::Revoked));
    assert_eq!(fx.state(&c), Some(TokenState::Active));
    assert_eq!(fx.state(&d), Some(TokenState::Revoked));
}
