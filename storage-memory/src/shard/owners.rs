//! The owner indexes of a shard: for each client and each subject, the grant
//! keys of its grants in this shard, so that `revoke_all` visits only the
//! grants it ends, never the whole shard.
//!
//! # Layout and cost
//! A list of 4-byte [`GrantKey`]s per owner. A token is pushed with its
//! grant's key onto its client's list and, if it has one, its subject's,
//! unless the grant already holds a token of the same owners (the
//! grant's first token is looked at: one comparison). So a new grant costs
//! one map lookup and one `Vec` push per owner (4 bytes, 8 with the
//! `Vec`'s slack), and a refresh rotation, which adds to an existing grant,
//! costs the comparison only.
//!
//! # Exact, but lazily cleaned
//! Invariant: the key of every entry of the shard is on the list of its
//! client and of its subject. Lists may also hold keys that no longer have
//! a token of that owner (their grant expired and was purged) and
//! duplicates (two grants sharing a key); `revoke_all` checks every entry
//! it reaches against the owner, so neither changes its answer. They are
//! dropped by a compaction of the list, which keeps the keys that still
//! have a token of the owner, once each. It runs when a list is full
//! (before it grows) and when half of it is known dead (counted when a
//! purge removes the last token of a key), so its cost is amortised over
//! the pushes and removals that made it necessary: a list never holds
//! much more than twice the live keys of its owner.

use std::collections::HashMap;
use std::hash::Hash;

use gatehouse_core::model::{ClientId, IdHashing, Subject};

use super::grants::{GrantIndex, GrantKey};
use super::{Entry, Slab};

/// Lists shorter than this are never compacted for being full: too small
/// to matter.
const MIN_COMPACT: usize = 8;

/// The keys of one owner's grants, and how many of them are known dead.
#[derive(Default)]
struct KeyList {
    keys: Vec<GrantKey>,
    dead: usize,
}

/// Owner to the keys of its grants (see the module docs).
#[derive(Default)]
pub(super) struct Owners {
    /// Client ids are registered by the operator, so the fast hasher is
    /// safe (see [`IdHashing`]).
    by_client: HashMap<ClientId, KeyList, IdHashing>,
    /// Subjects may be chosen by users (an e-mail address): SipHash with a
    /// random key, so nobody can build colliding ones.
    by_subject: HashMap<Subject, KeyList>,
}

/// Whether `e` belongs to the owner of a list.
trait Owner: Eq + Hash + Clone {
    fn owns(&self, e: &Entry) -> bool;
}

impl Owner for ClientId {
    fn owns(&self, e: &Entry) -> bool {
        e.client_id == *self
    }
}

impl Owner for Subject {
    fn owns(&self, e: &Entry) -> bool {
        e.subject() == Some(self)
    }
}

impl Owners {
    /// Records `e`, just pushed with key `key`. `known` says whether the
    /// key's first token before this push has the same client and subject
    /// (then both lists already hold the key).
    pub(super) fn add(&mut self, e: &Entry, key: GrantKey, known: bool, grants: &GrantIndex, slab: &Slab) {
        if known {
            return;
        }
        push(&mut self.by_client, &e.client_id, key, grants, slab);
        if let Some(s) = e.subject() {
            push(&mut self.by_subject, s, key, grants, slab);
        }
    }

    /// Notes that `e`, just removed, was the last token with its key.
    pub(super) fn forget(&mut self, e: &Entry, grants: &GrantIndex, slab: &Slab) {
        died(&mut self.by_client, &e.client_id, grants, slab);
        if let Some(s) = e.subject() {
            died(&mut self.by_subject, s, grants, slab);
        }
    }

    /// The keys on the list of `client` (possibly stale or repeated).
    pub(super) fn of_client(&self, client: &ClientId) -> &[GrantKey] {
        self.by_client.get(client).map_or(&[], |l| l.keys.as_slice())
    }

    /// The keys on the list of `subject` (possibly stale or repeated).
    pub(super) fn of_subject(&self, subject: &Subject) -> &[GrantKey] {
        self.by_subject.get(subject).map_or(&[], |l| l.keys.as_slice())
    }

    /// Gives memory back after a mass expiry.
    pub(super) fn shrink_if_sparse(&mut self) {
        if self.by_client.capacity() > 64 && self.by_client.len() < self.by_client.capacity() / 4 {
            self.by_client.shrink_to(self.by_client.len() * 2);
        }
        if self.by_subject.capacity() > 64 && self.by_subject.len() < self.by_subject.capacity() / 4 {
            self.by_subject.shrink_to(self.by_subject.len() * 2);
        }
    }

    /// Checks the invariant: the key of every entry is on its owners'
    /// lists; no list is empty.
    #[cfg(test)]
    pub(super) fn assert_covers(&self, slab: &Slab) {
        for i in 0..slab.len {
            let e = slab.get(i).expect("position in the slab");
            let key = GrantKey::of(&e.digest.grant());
            assert!(self.of_client(&e.client_id).contains(&key), "entry {i}'s key missing for its client");
            if let Some(s) = e.subject() {
                assert!(self.of_subject(s).contains(&key), "entry {i}'s key missing for its subject");
            }
        }
        assert!(self.by_client.values().chain(self.by_subject.values()).all(|l| !l.keys.is_empty()));
    }

    /// Keys on every list, duplicates and dead ones included.
    #[cfg(test)]
    pub(super) fn listed(&self) -> usize {
        self.by_client.values().chain(self.by_subject.values()).map(|l| l.keys.len()).sum()
    }
}

fn push<O: Owner, S: std::hash::BuildHasher>(
    lists: &mut HashMap<O, KeyList, S>,
    owner: &O,
    key: GrantKey,
    grants: &GrantIndex,
    slab: &Slab,
) {
    // Looked up before inserting, so the common case (the owner has a
    // list) clones nothing.
    let list = match lists.get_mut(owner) {
        Some(l) => l,
        None => lists.entry(owner.clone()).or_default(),
    };
    if list.keys.len() == list.keys.capacity() && list.keys.len() >= MIN_COMPACT {
        let before = list.keys.capacity();
        compact(list, owner, grants, slab);
        // Still more than half full: grow now, so that the next compaction
        // is at least as many pushes away as this one cost.
        if list.keys.len() > before / 2 {
            list.keys.reserve(before);
        }
    }
    list.keys.push(key);
}

fn died<O: Owner, S: std::hash::BuildHasher>(
    lists: &mut HashMap<O, KeyList, S>,
    owner: &O,
    grants: &GrantIndex,
    slab: &Slab,
) {
    let Some(list) = lists.get_mut(owner) else { return };
    list.dead += 1;
    if list.dead * 2 >= list.keys.len() {
        compact(list, owner, grants, slab);
        if list.keys.is_empty() {
            lists.remove(owner);
        } else if list.keys.capacity() > MIN_COMPACT && list.keys.len() < list.keys.capacity() / 4 {
            list.keys.shrink_to(list.keys.len() * 2);
        }
    }
}

/// Keeps the keys that still have a token of `owner`, once each.
fn compact<O: Owner>(list: &mut KeyList, owner: &O, grants: &GrantIndex, slab: &Slab) {
    list.keys.sort_unstable_by_key(|k| k.0);
    list.keys.dedup();
    list.keys.retain(|&k| {
        grants.positions(k).iter().any(|&p| slab.get(p as usize).is_some_and(|e| owner.owns(e)))
    });
    list.dead = 0;
}
