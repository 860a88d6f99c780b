//! The grant index of a shard: where the tokens of each grant are, so
//! that revoking a grant costs O(tokens of the grant), not a scan of the
//! shard.
//!
//! # Layout
//! Most grants hold one token (client_credentials), so the index is a map
//! from a 4-byte grant key to a 4-byte slot, and for a key with one token
//! the slot is that token's position: one 8-byte bucket per grant and
//! nothing else. For a key with two or more tokens the slot names a
//! `Vec` of their positions in a side table (a "family"), and each of
//! those entries keeps its index in that `Vec` (`Entry::family_at`, in
//! bytes that were padding). So removing or moving any token is O(1)
//! however large its family: a client that rotates its refresh token
//! thousands of times cannot make a purge pass quadratic.
//!
//! # The key
//! Bytes 8..12 of the grant id (128 CSPRNG bits, drawn by the core). The
//! store picks the shard from bytes 0..8, so within one shard those bytes
//! are not uniform; bytes 8..12 are. Two grants that share a key (about
//! 2^-32 per pair of grants in a shard) share one family, which is exact:
//! `revoke_grant` compares the whole grant id of every member.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use gatehouse_core::model::GrantId;

use super::{Slab, TagBuild};

/// Set in a slot that names a family instead of a position.
const FAMILY: u32 = 1 << 31;

/// Positions stay below this, so that a slot can tell a position from a
/// family number.
pub(super) const MAX_POSITIONS: usize = FAMILY as usize;

/// Bytes 8..12 of a grant id (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct GrantKey(pub(super) u32);

impl GrantKey {
    pub(super) fn of(grant: &GrantId) -> Self {
        let b = grant.as_bytes();
        Self(u32::from_le_bytes([b[8], b[9], b[10], b[11]]))
    }
}

impl Hash for GrantKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The table takes buckets from the low bits of the hash and its
        // control bytes from the top 7; multiplying by an odd constant
        // fills the top bits from all 32 random ones.
        state.write_u64(u64::from(self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
}

/// Grant key to the positions of its tokens (see the module docs).
#[derive(Default)]
pub(super) struct GrantIndex {
    /// A position, or `FAMILY | n` for `families[n]`.
    slots: HashMap<GrantKey, u32, TagBuild>,
    /// Positions of the tokens of keys with two or more; each holds at
    /// least two while it is in use.
    families: Vec<Vec<u32>>,
    /// Numbers of empty families, for reuse.
    free: Vec<u32>,
}

impl GrantIndex {
    /// Records the entry just pushed at `pos` with grant key `key`.
    pub(super) fn add(&mut self, slab: &mut Slab, key: GrantKey, pos: u32) {
        let mut slot = match self.slots.entry(key) {
            MapEntry::Vacant(v) => {
                v.insert(pos);
                return;
            }
            MapEntry::Occupied(o) => o,
        };
        let s = *slot.get();
        if s & FAMILY != 0 {
            if let Some(members) = self.families.get_mut((s & !FAMILY) as usize) {
                set_family_at(slab, pos, members.len());
                members.push(pos);
            }
            return;
        }
        // A second token: the key gets a family.
        set_family_at(slab, s, 0);
        set_family_at(slab, pos, 1);
        let members = vec![s, pos];
        let n = match self.free.pop() {
            Some(n) => {
                if let Some(f) = self.families.get_mut(n as usize) {
                    *f = members;
                }
                n
            }
            None => {
                self.families.push(members);
                // Every family holds two positions below 2^31, so there are
                // fewer than 2^30 of them.
                (self.families.len() - 1) as u32
            }
        };
        *slot.get_mut() = FAMILY | n;
    }

    /// Forgets the entry at `pos`, which is still in the slab.
    pub(super) fn remove(&mut self, slab: &mut Slab, key: GrantKey, pos: u32, family_at: u32) {
        let MapEntry::Occupied(mut slot) = self.slots.entry(key) else { return };
        let s = *slot.get();
        if s & FAMILY == 0 {
            if s == pos {
                slot.remove();
            }
            return;
        }
        let n = s & !FAMILY;
        let Some(members) = self.families.get_mut(n as usize) else { return };
        let at = family_at as usize;
        if members.get(at) != Some(&pos) {
            return;
        }
        members.swap_remove(at);
        if let Some(&moved) = members.get(at) {
            set_family_at(slab, moved, at);
        }
        if let [only] = members[..] {
            // Back to the one-token form, which costs nothing beyond the slot.
            *slot.get_mut() = only;
            *members = Vec::new();
            self.free.push(n);
        } else if members.capacity() > 16 && members.len() < members.capacity() / 4 {
            members.shrink_to(members.len() * 2);
        }
    }

    /// The entry with `key` and `family_at` moved from `from` to `to`.
    pub(super) fn moved(&mut self, key: GrantKey, family_at: u32, from: u32, to: u32) {
        let Some(slot) = self.slots.get_mut(&key) else { return };
        let p = if *slot & FAMILY == 0 {
            slot
        } else {
            let member =
                self.families.get_mut((*slot & !FAMILY) as usize).and_then(|m| m.get_mut(family_at as usize));
            let Some(p) = member else { return };
            p
        };
        if *p == from {
            *p = to;
        }
    }

    /// Positions of every token whose grant has `key`.
    pub(super) fn positions(&self, key: GrantKey) -> &[u32] {
        match self.slots.get(&key) {
            None => &[],
            Some(s) if s & FAMILY == 0 => std::slice::from_ref(s),
            Some(s) => self.families.get((s & !FAMILY) as usize).map_or(&[], Vec::as_slice),
        }
    }

    /// Gives memory back after a mass expiry: hash maps never shrink by
    /// themselves, and freed families keep their place in the side table.
    pub(super) fn shrink_if_sparse(&mut self) {
        if self.slots.capacity() > 64 && self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to(self.slots.len() * 2);
        }
        if self.free.len() > 16 && self.free.len() > self.families.len() / 2 {
            // Renumber the families in use; members keep their `family_at`.
            let mut packed = Vec::with_capacity(self.families.len() - self.free.len());
            for s in self.slots.values_mut() {
                if *s & FAMILY != 0 {
                    if let Some(f) = self.families.get_mut((*s & !FAMILY) as usize) {
                        *s = FAMILY | packed.len() as u32;
                        packed.push(std::mem::take(f));
                    }
                }
            }
            self.families = packed;
            self.free = Vec::new();
        }
    }

    /// Families in the side table, free ones included.
    #[cfg(test)]
    pub(super) fn families_in_table(&self) -> usize {
        self.families.len()
    }

    /// Checks that the index describes `slab` exactly: every position once,
    /// under its entry's key, with a right `family_at`; no family smaller
    /// than two; free families empty.
    #[cfg(test)]
    pub(super) fn assert_exact(&self, slab: &Slab) {
        let mut seen = vec![false; slab.len];
        for (key, &s) in &self.slots {
            let members = self.positions(*key);
            if s & FAMILY != 0 {
                assert!(members.len() >= 2, "family of {}", members.len());
                assert!(!self.free.contains(&(s & !FAMILY)));
            }
            for (at, &p) in members.iter().enumerate() {
                let e = slab.get(p as usize).expect("position in the slab");
                assert!(GrantKey::of(&e.digest.grant()) == *key, "position {p} under a wrong key");
                if s & FAMILY != 0 {
                    assert_eq!(e.family_at as usize, at);
                }
                assert!(!std::mem::replace(&mut seen[p as usize], true), "position {p} twice");
            }
        }
        assert!(seen.iter().all(|&x| x), "a position missing from the grant index");
        for &n in &self.free {
            assert!(self.families[n as usize].is_empty());
        }
    }
}

fn set_family_at(slab: &mut Slab, pos: u32, at: usize) {
    if let Some(e) = slab.get_mut(pos as usize) {
        // Below 2^31: a family never holds more than every position.
        e.family_at = at as u32;
    }
}
