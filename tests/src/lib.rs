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
//! (`RedisStore::connect(url, prefix).await.expect("connect")`). Names in
//! scope in the calling file are in scope in the expression.
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
//! A [`FishingLimiter`](gatehouse_core::FishingLimiter) gets the limiter
//! checks the same way, from a closure of its settings or a
//! [`LimiterHarness`](limiter_contract::LimiterHarness):
//!
//! ```ignore
//! gatehouse_conformance::limiter_conformance!(memory_limiter, |cfg| MemoryLimiter::new(cfg));
//! ```
//!
//! # One suite
//! A guarantee every store (or every limiter) must give is checked here and
//! nowhere else; a backend's own tests keep only what is its own (key
//! layout and TTLs, what is at rest, files and migrations, connection loss,
//! caches, races between its processes).
//!
//! # Module map
//! - [`store_contract`]: one check per guarantee of the store traits.
//! - [`bulk_revocation`]: `revoke_all` (sign out everywhere), in the store
//!   and through the server, racing refresh rotation.
//! - [`model`]: model-based property test, comparing a store with
//!   [`reference::ReferenceStore`] on random operation sequences.
//! - [`reference`](mod@reference): a small, obviously correct store, the one
//!   model every backend is compared with.
//! - [`limiter_contract`]: one check per guarantee of the fishing limiter,
//!   and a comparison with the core's GCRA functions.
//! - [`client_checks`]: the client lifecycle (paged listing, the seed
//!   marker, rotation with an overlap, disable/enable/remove).
//! - [`fixtures`]: records and clients for checks.
//! - [`audit_checks`]: each audit event on the path that emits it, and none
//!   holding a secret; the recording sink the [`world`] installs.
//! - [`server_checks`]: the token, introspection and revocation endpoints
//!   over the store, through an [`AuthServer`](gatehouse_core::AuthServer).
//! - [`grant_checks`]: authorization code with PKCE, refresh rotation and
//!   reuse detection, bearer validation.
//! - [`world`]: the server and registered clients the server checks use.
//! - [`wrappers`]: a store wrapper that fails on demand and counts reads.
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

pub mod audit_checks;
pub mod bulk_revocation;
pub mod client_checks;
pub mod fixtures;
pub mod grant_checks;
pub mod limiter_contract;
pub mod model;
pub mod reference;
pub mod server_checks;
pub mod store_contract;
pub mod world;
pub mod wrappers;

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

/// The message a check panicked with, from the payload of a failed task
/// (`JoinError::into_panic`): the broken-store and broken-limiter tests
/// assert that a check fails for the reason it names.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast::<&str>().map(|s| (*s).to_owned()).unwrap_or_default(),
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

/// Stamps one `#[test]` per limiter check ([`limiter_contract`]) into a
/// module named after the limiter.
///
/// ```ignore
/// // A fresh limiter from an expression of the settings (may `.await`):
/// gatehouse_conformance::limiter_conformance!(memory_limiter, |cfg| MemoryLimiter::new(cfg));
/// // Or a `LimiterHarness` value, built per check and dropped after it:
/// gatehouse_conformance::limiter_conformance!(redis_limiter, harness = RedisLimiters::start());
/// ```
#[macro_export]
macro_rules! limiter_conformance {
    ($backend:ident, harness = $harness:expr $(,)?) => {
        $crate::__for_each_limiter_check! { $backend, $harness }
    };
    ($backend:ident, |$cfg:ident| $fresh:expr $(,)?) => {
        $crate::limiter_conformance!(
            $backend,
            harness = $crate::limiter_contract::FnLimiterHarness(|$cfg| async move { $fresh })
        );
    };
}

/// The list of every limiter check, handed to `__stamp_checks!` as
/// [`__for_each_check!`] does for the store checks.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_limiter_check {
    ($($args:tt)*) => {
        $crate::__stamp_checks! { $($args)* ;
            limiter_contract::every_edge_setting_throttles_as_configured,
            limiter_contract::sixty_thousand_and_one_a_minute_refills_exactly,
            limiter_contract::seven_a_minute_is_exact_past_the_first_hour,
            limiter_contract::retry_after_is_between_a_second_and_a_day,
            limiter_contract::decides_like_the_core_gcra,
            limiter_contract::concurrent_reservations_admit_exactly_the_burst,
        }
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
            store_contract::same_hash_in_another_grant_is_another_record,
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
            store_contract::get_with_client_reads_the_current_client,
            store_contract::ping_answers_and_changes_nothing,
            client_checks::list_clients_pages_in_id_order,
            client_checks::list_clients_survives_changes_between_pages,
            client_checks::seed_marker_round_trips,
            client_checks::rotated_secret_overlaps_until_the_deadline,
            client_checks::disable_enable_remove_through_the_server,
            bulk_revocation::revoke_all_ends_exactly_the_grants_it_names,
            bulk_revocation::revoke_all_then_consume_is_replayed,
            bulk_revocation::revoke_all_reaches_grants_a_consume_extended,
            bulk_revocation::revoke_all_races_refresh_rotation,
            bulk_revocation::sign_out_everywhere_through_the_server,
            bulk_revocation::revoke_all_fails_closed,
            model::store_matches_reference,
            audit_checks::audit_token_issued,
            audit_checks::audit_introspection_reasons,
            audit_checks::audit_throttled,
            audit_checks::audit_client_auth_failed,
            audit_checks::audit_token_revoked,
            audit_checks::audit_replay_detected,
            audit_checks::audit_bulk_revocation_and_client_changes,
            audit_checks::audit_store_failed,
            audit_checks::audit_events_hold_no_secret,
            grant_checks::code_flow_issues_access_and_refresh_tokens,
            grant_checks::public_client_code_flow,
            grant_checks::authorize_redirect_carries_code_state_and_issuer,
            grant_checks::authorize_bad_client_or_redirect_is_not_redirected,
            grant_checks::authorize_errors_are_redirected,
            grant_checks::public_loopback_redirect_matches_any_port,
            grant_checks::unsafe_registered_redirect_uri_never_matches,
            grant_checks::authorization_audience_without_resource,
            grant_checks::deny_redirects_access_denied,
            grant_checks::code_replay_revokes_issued_tokens,
            grant_checks::pkce_mismatch_is_invalid_grant,
            grant_checks::redirect_mismatch_is_invalid_grant,
            grant_checks::expired_code_is_invalid_grant,
            grant_checks::code_of_another_client_is_invalid_grant,
            grant_checks::tokens_only_work_in_their_own_grant,
            grant_checks::refresh_rotates_and_reuse_revokes_the_family,
            grant_checks::refresh_scope_may_narrow_not_widen,
            grant_checks::refresh_narrowing_keeps_the_grant_scope,
            grant_checks::access_token_never_outlives_its_grant,
            grant_checks::concurrent_refresh_has_one_winner,
            grant_checks::refresh_tokens_are_visible_only_to_their_client,
            grant_checks::revoking_a_refresh_token_revokes_its_access_tokens,
            grant_checks::bearer_validation,
            grant_checks::grants_fail_closed,
            grant_checks::grants_unreachable_store_is_503,
            server_checks::client_credentials_issues_bearer_token,
            server_checks::client_secret_post_works,
            server_checks::requested_scope_is_granted,
            server_checks::scope_beyond_client_is_invalid_scope,
            server_checks::malformed_scope_is_invalid_scope,
            server_checks::resource_narrows_audience,
            server_checks::no_resource_means_the_default_audience,
            server_checks::several_audiences_and_no_default_need_a_resource,
            server_checks::bad_resource_is_invalid_target,
            server_checks::missing_grant_type_is_invalid_request,
            server_checks::unknown_grant_type_is_unsupported,
            server_checks::client_without_grant_is_unauthorized_client,
            server_checks::wrong_secret_is_invalid_client,
            server_checks::unknown_client_looks_like_wrong_secret,
            server_checks::disabled_client_is_invalid_client,
            server_checks::typed_authentication_outcomes,
            server_checks::missing_credentials_is_invalid_client,
            server_checks::other_authorization_scheme_is_401_with_basic_challenge,
            server_checks::two_auth_methods_is_invalid_request,
            server_checks::secret_without_client_id_is_invalid_request,
            server_checks::malformed_requests_get_oauth_errors,
            server_checks::introspection_active_has_all_fields,
            server_checks::jti_is_unique,
            server_checks::introspection_malformed_token_inactive,
            server_checks::introspection_forged_token_inactive_without_storage_read,
            server_checks::introspection_unknown_key_id_inactive,
            server_checks::introspection_unknown_token_inactive,
            server_checks::introspection_expired_inactive,
            server_checks::introspection_respects_clock_skew,
            server_checks::introspection_not_yet_valid_inactive,
            server_checks::introspection_revoked_inactive,
            server_checks::introspection_client_disabled_inactive,
            server_checks::introspection_client_deleted_inactive,
            server_checks::introspection_wrong_audience_inactive,
            server_checks::introspection_hint_is_only_a_hint,
            server_checks::introspection_refresh_token_not_active_for_resource_servers,
            server_checks::introspection_refuses_public_clients,
            server_checks::introspection_refuses_non_resource_servers,
            server_checks::introspection_missing_token_is_invalid_request,
            server_checks::introspection_fails_closed,
            server_checks::issuance_fails_closed,
            server_checks::fishing_is_throttled_per_caller,
            server_checks::concurrent_guesses_get_at_most_burst_answers,
            server_checks::throttled_caller_causes_no_token_read,
            server_checks::active_answers_are_not_throttled,
            server_checks::revocation_of_own_access_token,
            server_checks::revocation_of_other_clients_token_has_no_effect,
            server_checks::revocation_of_unknown_token_is_ok,
            server_checks::revocation_of_refresh_token_revokes_grant,
            server_checks::revocation_requires_auth_and_token,
            server_checks::unreachable_store_is_503_with_retry_after,
            server_checks::revocation_fails_closed,
            server_checks::store_holds_no_raw_token_or_secret,
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
