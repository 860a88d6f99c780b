//! `revoke_grant` must cost O(tokens of the grant), not O(tokens stored):
//! any caller can trigger it by replaying a refresh token or a code. This
//! revokes a 1-token grant (client_credentials) and a 10-token family (a
//! code and rotated refresh tokens with their access tokens) in stores
//! holding 1k, 100k and 1M tokens; the times should not grow with the
//! store.
//!
//! Each iteration revokes the same grant again: after the first, its
//! tokens are already `Revoked`, which does the same work (find the
//! grant's tokens, mark each one) as the first revocation.
//!
//! Run: `cargo bench -p gatehouse-memory --bench revoke_grant`
#![allow(missing_docs)] // criterion_group! makes undocumented public items
#![allow(clippy::unwrap_used)] // setup of a benchmark: a failure ends the run

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use common::{run_ready, SplitMix};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse_core::model::{Claims, ClientId, GrantId, Jti, Resource, Scope, TokenDigest, TokenRecord};
use gatehouse_core::{TokenStore, UnixTime};
use gatehouse_memory::MemoryStore;

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const FAMILY: usize = 10;

struct Filler {
    client_id: ClientId,
    scope: Scope,
    audience: Arc<[Resource]>,
    rng: SplitMix,
}

impl Filler {
    fn new() -> Self {
        Self {
            client_id: ClientId::new("svc-billing").unwrap(),
            scope: Scope::parse("invoices:read invoices:write").unwrap(),
            audience: Arc::from(vec![Resource::new("https://api.example.com").unwrap()]),
            rng: SplitMix(0x5eed),
        }
    }

    fn grant(&mut self) -> GrantId {
        GrantId::from_bytes(self.rng.bytes16())
    }

    fn record(&mut self, grant: GrantId) -> TokenRecord {
        TokenRecord::access(
            TokenDigest::new(grant, self.rng.bytes32()),
            Jti::from_bytes(self.rng.bytes16()),
            Claims::new(self.client_id.clone(), self.scope.clone(), Arc::clone(&self.audience)),
            UnixTime(1_700_000_000),
            UnixTime(1_700_003_600),
        )
    }
}

/// A store of `n` tokens: a 10-token family, a 1-token grant, and
/// 1-token grants for the rest. Returns the two grants to revoke.
fn filled(n: usize) -> (MemoryStore, GrantId, GrantId) {
    let store = MemoryStore::new();
    let mut f = Filler::new();
    let family = f.grant();
    for _ in 0..FAMILY {
        run_ready(store.insert(f.record(family))).unwrap();
    }
    let single = f.grant();
    run_ready(store.insert(f.record(single))).unwrap();
    for _ in FAMILY + 1..n {
        let g = f.grant();
        run_ready(store.insert(f.record(g))).unwrap();
    }
    assert_eq!(store.len(), n);
    (store, single, family)
}

fn revoke_grant(c: &mut Criterion) {
    let mut group = c.benchmark_group("revoke_grant");
    group.sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let (store, single, family) = filled(n);
        group.bench_with_input(BenchmarkId::new("1_token_grant", n), &single, |b, g| {
            b.iter(|| run_ready(store.revoke_grant(black_box(g))))
        });
        group.bench_with_input(BenchmarkId::new("10_token_grant", n), &family, |b, g| {
            b.iter(|| run_ready(store.revoke_grant(black_box(g))))
        });
    }
    group.finish();
}

criterion_group!(benches, revoke_grant);
criterion_main!(benches);
