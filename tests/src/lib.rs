//! The conformance suite every gatehouse store must pass.
//!
//! The suite is a set of generic `pub async fn` checks, one per guarantee of
//! the storage contract ([`TokenStore`], [`ClientRegistry`]), and a macro,
//! [`store_conformance!`], that stamps one named `#[test]` per check inside a
//! module named after the backend, so a failure reads
//! `memory::consume_is_single_use_under_race`.
//!
//! # Instantiating the suite for a backend
//!
//! In a test file of the backend (or of this crate), one line:
//!
//! ```ignore
//! gatehouse_conformance::store_conformance!(memory, gatehouse_memory::MemoryStore::new());
//! ```
//!
//! This crate runs the suite against its own model the same way:
//!
//! ```
//! use gatehouse_conformance::reference::ReferenceStore;
//!
//! gatehouse_conformance::store_conformance!(reference, ReferenceStore::new());
//! # fn main() {}
//! ```
//!
//! The expression is evaluated once per check, inside that check's runtime,
//! and must give a fresh, empty store; it may `.await`
//! (`SqliteStore::open_in_memory().await.expect("open")`). Names in scope in
//! the calling file are in scope in the expression.
//!
//! A backend that needs something to outlive the store (a server process, a
//! temporary directory), or whose records expire by TTL, implements
//! [`Harness`] and passes a value of it:
//!
//! ```
//! use gatehouse_conformance::reference::ReferenceStore;
//! use gatehouse_conformance::Harness;
//!
//! /// Stands for a harness that starts a server and connects to it.
//! struct ServerHarness {
//!     _server: (), // e.g. the child process, killed on drop
//! }
//!
//! impl ServerHarness {
//!     async fn start() -> Self {
//!         Self { _server: () }
//!     }
//! }
//!
//! impl Harness for ServerHarness {
//!     type Store = ReferenceStore;
//!     // Records expire by TTL: purge_expired may return Ok(0).
//!     const PURGES_EXPIRED: bool = false;
//!
//!     async fn fresh(&self) -> ReferenceStore {
//!         ReferenceStore::new() // e.g. a connection with a fresh key prefix
//!     }
//! }
//!
//! gatehouse_conformance::store_conformance!(server, harness = ServerHarness::start().await);
//! # fn main() {}
//! ```
//!
//! The harness is built at the start of each check, in that check's
//! runtime, and dropped after it.
//!
//! # Module map
//! - [`store_contract`]: one check per guarantee of the store traits.
//! - [`model`]: model-based property test, comparing a store with
//!   [`reference::ReferenceStore`] on random operation sequences.
//! - [`reference`](mod@reference): a small, obviously correct store, the model.
//! - [`fixtures`]: records and clients for checks (reused by the server-level
//!   checks).
//!
//! # Adding checks
//! A check is `pub async fn name<H: Harness>(h: &H)` that panics with a clear
//! message on a violation. Add it to the one list in the `__for_each_check!`
//! macro (`src/lib.rs`), as `module::name`; every backend then runs it. A new module of checks
//! (for example server-level ones) is a new `pub mod` here whose checks are
//! listed the same way. Check names must be unique across modules, since
//! they become test names in one module per backend.
//!
//! # Proving the suite can fail
//! `tests/broken_stores.rs` runs checks against deliberately broken stores
//! (upserting insert, non-atomic consume, ignored grant revocation, …) and
//! asserts that each fails with the expected message.
#![forbid(unsafe_code)]

use std::future::Future;

use gatehouse_core::{ClientRegistry, TokenStore};

pub mod fixtures;
pub mod model;
pub mod reference;
pub mod store_contract;

/// How the suite gets a fresh, empty store for each check.
///
/// Implement it when a backend needs state that outlives each store (a
/// server process kept alive by the harness value) or expires records by
/// TTL; otherwise pass an expression to [`store_conformance!`] and let it
/// build an [`FnHarness`].
pub trait Harness: Send + Sync {
    /// The store under test.
    type Store: TokenStore + ClientRegistry;

    /// Whether [`TokenStore::purge_expired`] actually deletes expired
    /// records. `false` for a backend whose records expire by themselves
    /// (Redis TTLs), which the contract allows to return `Ok(0)`; the purge
    /// checks then only check that nothing live is deleted, the limit is
    /// kept and the count is honest.
    const PURGES_EXPIRED: bool = true;

    /// A new, empty store. Two calls give independent stores.
    fn fresh(&self) -> impl Future<Output = Self::Store> + Send;
}

/// A [`Harness`] made of a closure that returns a future of a fresh store.
/// [`store_conformance!`] builds one from its expression.
#[derive(Debug, Clone, Copy)]
pub struct FnHarness<F>(pub F);

impl<F, Fut> Harness for FnHarness<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future + Send,
    Fut::Output: TokenStore + ClientRegistry,
{
    type Store = Fut::Output;

    fn fresh(&self) -> impl Future<Output = Self::Store> + Send {
        (self.0)()
    }
}

/// Runs a check to completion on a new multi-thread runtime with four
/// workers, so that the race checks really run in parallel. The stamped
/// tests use it; it is public so that other tests can run a single check.
///
/// # Panics
/// When the runtime cannot be built, or when `fut` panics.
pub fn run<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("build the tokio runtime for a conformance check")
        .block_on(fut)
}

/// Stamps one `#[test]` per conformance check into a module named after the
/// backend.
///
/// ```ignore
/// // A fresh store from an expression (may `.await`), evaluated per check:
/// gatehouse_conformance::store_conformance!(memory, MemoryStore::new());
/// // Or a `Harness` value, built per check and dropped after it:
/// gatehouse_conformance::store_conformance!(redis, harness = RedisHarness::start().await);
/// ```
///
/// The module does `use super::*`, so the expression may use names imported
/// in the calling file.
#[macro_export]
macro_rules! store_conformance {
    ($backend:ident, harness = $harness:expr $(,)?) => {
        $crate::__for_each_check! { $backend, $harness }
    };
    ($backend:ident, $fresh:expr $(,)?) => {
        $crate::store_conformance!($backend, harness = $crate::FnHarness(|| async { $fresh }));
    };
}

/// The list of every check: `module::check`, one a line, handed to
/// `__stamp_checks!` after the backend's arguments. Adding a check to the
/// suite is adding its line here.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_check {
    ($($args:tt)*) => {
        $crate::__stamp_checks! { $($args)* ;
            store_contract::insert_then_get_round_trips,
            store_contract::get_unknown_is_none,
            store_contract::insert_never_overwrites,
            store_contract::insert_race_has_one_winner,
            store_contract::consume_takes_once,
            store_contract::consume_unknown,
            store_contract::consume_inserts_replacements,
            store_contract::consume_conflicting_replacement_changes_nothing,
            store_contract::consume_revoked_is_replayed,
            store_contract::consume_is_single_use_under_race,
            store_contract::revoke_marks_revoked,
            store_contract::state_transitions_are_stored,
            store_contract::revoke_grant_revokes_family,
            store_contract::revoke_grant_then_consume_is_replayed,
            store_contract::revoke_grant_races_consume,
            store_contract::purge_removes_only_expired,
            store_contract::client_put_get_remove,
            model::store_matches_reference,
        }
    };
}

/// Stamps the tests for one backend; see [`store_conformance!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __stamp_checks {
    ($backend:ident, $harness:expr ; $($module:ident :: $check:ident),* $(,)?) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[test]
                fn $check() {
                    $crate::run(async {
                        let harness = $harness;
                        $crate::$module::$check(&harness).await;
                    });
                }
            )*
        }
    };
}
