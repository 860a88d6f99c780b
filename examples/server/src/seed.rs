//! Where clients come from: the config file seeds an empty store, and the
//! store is the source of truth after that.
//!
//! - **First start** (the store has no seed marker,
//!   [`ClientRegistry::seeded_at`]): every configured client that is not in
//!   the store yet is registered, then the marker is written.
//! - **Every later start**: the file's clients are not applied. What was
//!   changed at run time (a rotated secret, a disabled or removed client)
//!   stays as it is; configured ids missing from the store are named on
//!   stdout.
//! - **`--reapply-clients`**: every configured client is written over the
//!   store's registration on purpose (secrets, flags and all).
//!
//! So two instances started from the same file never undo each other's
//! run-time changes, and neither does a restart.
//!
//! **A store that lost its data** (a Redis restarted without persistence,
//! or flushed) has lost its marker too. Every instance checks the marker
//! every [`Settings::seed_check_every`](crate::Settings::seed_check_every);
//! one that finds it gone prints an error on stderr, answers readiness
//! with 503 and the reason until the marker is back, and seeds the store
//! again as at a first start: the tokens are gone anyway, and without the
//! clients every client would get 401 `invalid_client` until someone
//! restarted the instances. Run-time changes made since the first start
//! are lost with the data; the file is what comes back (keep it current).

use gatehouse_core::model::{Client, ClientId};
use gatehouse_core::{ClientRegistry, StoreError, UnixTime};

/// What [`seed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Seeding {
    /// The store had no seed marker: these configured clients were not in
    /// it and were registered (the others were left as they were).
    Seeded {
        /// The ids registered.
        added: Vec<ClientId>,
    },
    /// The store was seeded before: nothing was applied. `missing` are the
    /// configured ids the store does not have (removed at run time, or
    /// added to the file since).
    AlreadySeeded {
        /// When the store was seeded.
        at: UnixTime,
        /// Configured ids not in the store.
        missing: Vec<ClientId>,
    },
    /// `--reapply-clients`: every configured client was written.
    Reapplied {
        /// How many.
        count: usize,
    },
}

impl Seeding {
    /// One line for the operator (no secret: ids and counts only).
    pub fn describe(&self) -> String {
        let ids =
            |v: &[ClientId]| v.iter().map(|i| format!("{:?}", i.as_str())).collect::<Vec<_>>().join(", ");
        match self {
            Self::Seeded { added } => format!(
                "the store had no seed marker: registered {} configured client(s) it lacked{}",
                added.len(),
                if added.is_empty() { String::new() } else { format!(" ({})", ids(added)) }
            ),
            Self::AlreadySeeded { at, missing } if missing.is_empty() => format!(
                "clients come from the store (seeded at Unix time {}); the config file's clients were not applied",
                at.0
            ),
            Self::AlreadySeeded { at, missing } => format!(
                "clients come from the store (seeded at Unix time {}); configured client(s) not in the store \
                 (removed at run time, or added to the file since): {}; run with --reapply-clients to apply \
                 the file",
                at.0,
                ids(missing)
            ),
            Self::Reapplied { count } => {
                format!("--reapply-clients: wrote the config file's {count} client(s) over the store's")
            }
        }
    }
}

/// Seeds `store` from the configured `clients` as the module docs say, at
/// `now`.
///
/// # Errors
/// The first [`StoreError`]. The marker is written last, so a seeding
/// that failed part-way is done again (only what is missing) next time.
pub async fn seed<S: ClientRegistry>(
    store: &S,
    clients: &[Client],
    reapply: bool,
    now: UnixTime,
) -> Result<Seeding, StoreError> {
    if reapply {
        for c in clients {
            store.put_client(c.clone()).await?;
        }
        store.set_seeded_at(now).await?;
        return Ok(Seeding::Reapplied { count: clients.len() });
    }
    let seeded = store.seeded_at().await?;
    let mut absent = Vec::new();
    for c in clients {
        if store.client(&c.id).await?.is_none() {
            absent.push(c);
        }
    }
    if let Some(at) = seeded {
        return Ok(Seeding::AlreadySeeded { at, missing: absent.iter().map(|c| c.id.clone()).collect() });
    }
    // Only what is absent: an instance seeding at the same time writes the
    // same registrations, and what an operator changed is left alone.
    for c in &absent {
        store.put_client((*c).clone()).await?;
    }
    store.set_seeded_at(now).await?;
    Ok(Seeding::Seeded { added: absent.iter().map(|c| c.id.clone()).collect() })
}

/// Why readiness is refused while the seed marker is gone.
pub const LOST_DATA: &str = "the store lost its data: its seed marker is gone (a Redis restarted without \
                             persistence, or flushed?); re-seeding the configured clients";
