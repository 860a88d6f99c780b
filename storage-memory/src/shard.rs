//! One shard of the token table: a compact, dense array of entries plus a
//! small hash index into it.
//!
//! # Why not `HashMap<TokenDigest, TokenRecord>`
//! A hash table stores its values inline in a power-of-two bucket array
//! that is between 44% and 87.5% full, so every stored byte costs up to
//! 2.3 bytes. A whole record is ~170 bytes, which puts a plain map well
//! over our budget of 200 bytes per token. Here the hash table holds only
//! a 12-byte bucket (an 8-byte tag and a 4-byte position) and the entries
//! live densely in fixed-size chunks, so only the small bucket pays the
//! load-factor tax. Removal moves the last entry into the hole, so the
//! array never has gaps and shrinks as records are purged.
//!
//! # Why the tag hasher is safe
//! The index is keyed by the first 8 bytes of the token's SHA-256 digest,
//! and the hasher uses those bytes as the hash unchanged. A hash-flooding
//! attacker would have to choose digests: they cannot. Inserted digests are
//! SHA-256 of 256 CSPRNG bits drawn by the core, and a lookup only happens
//! for a token whose HMAC tag verified, that is, one the server minted.
//! A tag shared by two digests (a 2^-64 event for real tokens, or two
//! digests built by hand with the same hash) is handled exactly: the second
//! goes to a small `spill` map with the standard SipHash hasher.
//!
//! # Grants
//! A second, smaller index ([`grants`]) maps each grant to the positions
//! of its tokens, so that `revoke_grant` touches only those. Every change
//! of position (push, and the move of the last entry on removal) updates
//! both indexes in the same call.
//!
//! # Owners
//! A third ([`owners`]) maps each client and each subject to the grant keys
//! of its grants, so that `revoke_all` touches only the grants it ends.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use gatehouse_core::model::{
    ClientId, CodeBinding, GrantId, Jti, Resource, Scope, Subject, TokenDigest, TokenKind, TokenRecord,
    TokenState,
};
use gatehouse_core::{RevokeScope, UnixTime};

use crate::MemoryError;

mod grants;
mod owners;

use grants::{GrantIndex, GrantKey, MAX_POSITIONS};
use owners::Owners;

/// Entries per chunk. A power of two, so that `Vec`'s doubling growth of
/// the last chunk stops exactly at the chunk size and never over-allocates.
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: usize = CHUNK - 1;

/// The first 8 bytes of a digest's hash: the index key.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Tag([u8; 8]);

impl Tag {
    fn of(digest: &TokenDigest) -> Self {
        let h = digest.hash();
        Self(h.first_chunk::<8>().copied().unwrap_or_default())
    }
}

impl Hash for Tag {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from_le_bytes(self.0));
    }
}

/// Passes an already uniformly random `u64` through (see the module docs
/// for why that is safe here).
#[derive(Default)]
struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    // Only `Tag` is hashed with this hasher and it calls `write_u64`; this
    // fallback just keeps the hasher total.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

type TagBuild = BuildHasherDefault<TagHasher>;

/// Fields that most tokens do not have, boxed so that they cost one
/// pointer when absent.
struct Rare {
    subject: Option<Subject>,
    code: Option<Box<CodeBinding>>,
}

/// A stored token: a [`TokenRecord`] without its rare fields inline.
pub(crate) struct Entry {
    digest: TokenDigest,
    client_id: ClientId,
    scope: Scope,
    audience: Arc<[Resource]>,
    issued_at: UnixTime,
    not_before: UnixTime,
    expires_at: UnixTime,
    jti: Jti,
    kind: TokenKind,
    pub(crate) state: TokenState,
    /// This entry's index among the positions of its grant in the grant
    /// index, when the grant has more than one token (see [`grants`]).
    /// Sits in what would otherwise be padding.
    family_at: u32,
    rare: Option<Box<Rare>>,
}

impl Entry {
    pub(crate) fn new(r: TokenRecord) -> Self {
        let rare = match (r.subject, r.code) {
            (None, None) => None,
            (subject, code) => Some(Box::new(Rare { subject, code })),
        };
        Self {
            digest: r.digest,
            client_id: r.client_id,
            scope: r.scope,
            audience: r.audience,
            issued_at: r.issued_at,
            not_before: r.not_before,
            expires_at: r.expires_at,
            jti: r.jti,
            kind: r.kind,
            state: r.state,
            family_at: 0,
            rare,
        }
    }

    fn subject(&self) -> Option<&Subject> {
        self.rare.as_deref().and_then(|r| r.subject.as_ref())
    }

    /// Whether `other` has this entry's client and subject.
    fn same_owners(&self, other: &Entry) -> bool {
        self.client_id == other.client_id && self.subject() == other.subject()
    }

    /// Rebuilds the record. Reference-count bumps only, plus a copy of the
    /// code binding for authorization codes.
    pub(crate) fn to_record(&self) -> TokenRecord {
        let (subject, code) = match self.rare.as_deref() {
            Some(r) => (r.subject.clone(), r.code.clone()),
            None => (None, None),
        };
        TokenRecord {
            digest: self.digest,
            kind: self.kind,
            client_id: self.client_id.clone(),
            subject,
            scope: self.scope.clone(),
            audience: Arc::clone(&self.audience),
            issued_at: self.issued_at,
            not_before: self.not_before,
            expires_at: self.expires_at,
            jti: self.jti,
            state: self.state,
            code,
        }
    }
}

/// Entries in fixed-size chunks, with no gaps: positions `0..len` are
/// all occupied. Chunks avoid one huge reallocation (and its copy under the
/// write lock) as a shard grows.
#[derive(Default)]
struct Slab {
    chunks: Vec<Vec<Entry>>,
    len: usize,
}

impl Slab {
    fn get(&self, i: usize) -> Option<&Entry> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & CHUNK_MASK)
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Entry> {
        self.chunks.get_mut(i >> CHUNK_BITS)?.get_mut(i & CHUNK_MASK)
    }

    fn push(&mut self, e: Entry) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push(e),
            _ => self.chunks.push(vec![e]),
        }
        self.len += 1;
    }

    /// Removes the entry at `i`, moving the last entry into its place.
    fn swap_remove(&mut self, i: usize) -> Option<Entry> {
        if i >= self.len {
            return None;
        }
        let last_chunk = self.chunks.last_mut()?;
        let last = last_chunk.pop()?;
        if last_chunk.is_empty() {
            self.chunks.pop();
        }
        self.len -= 1;
        if i == self.len {
            return Some(last);
        }
        self.get_mut(i).map(|slot| std::mem::replace(slot, last))
    }
}

/// One shard: every token of a grant lives in the same shard (the store
/// picks it from the grant id), so grant-wide operations take one lock.
#[derive(Default)]
pub(crate) struct Shard {
    /// Tag to position, for the first digest seen with that tag.
    index: HashMap<Tag, u32, TagBuild>,
    /// Digest to position, for digests whose tag was already taken.
    /// Almost always empty.
    spill: HashMap<TokenDigest, u32>,
    /// Grant to the positions of its tokens.
    grants: GrantIndex,
    /// Client and subject to the grant keys of their grants.
    owners: Owners,
    slab: Slab,
}

impl Shard {
    pub(crate) fn len(&self) -> usize {
        self.slab.len
    }

    fn position(&self, digest: &TokenDigest) -> Option<usize> {
        if let Some(&i) = self.index.get(&Tag::of(digest)) {
            if self.slab.get(i as usize).is_some_and(|e| e.digest == *digest) {
                return Some(i as usize);
            }
        }
        // A spilled digest stays in `spill` even after the index entry
        // that pushed it there is gone, so look here on any miss.
        if self.spill.is_empty() {
            return None;
        }
        self.spill.get(digest).map(|&i| i as usize)
    }

    pub(crate) fn get(&self, digest: &TokenDigest) -> Option<&Entry> {
        self.slab.get(self.position(digest)?)
    }

    pub(crate) fn get_mut(&mut self, digest: &TokenDigest) -> Option<&mut Entry> {
        let i = self.position(digest)?;
        self.slab.get_mut(i)
    }

    pub(crate) fn contains(&self, digest: &TokenDigest) -> bool {
        self.position(digest).is_some()
    }

    /// Whether `n` more entries fit (positions are below 2^31, see
    /// [`grants`]).
    pub(crate) fn has_room(&self, n: usize) -> bool {
        self.slab.len.checked_add(n).is_some_and(|total| total <= MAX_POSITIONS)
    }

    /// Adds an entry whose digest the caller has checked is absent.
    ///
    /// # Errors
    /// [`MemoryError::ShardFull`], before anything changes.
    pub(crate) fn push_new(&mut self, e: Entry) -> Result<(), MemoryError> {
        if !self.has_room(1) {
            return Err(MemoryError::ShardFull);
        }
        let pos = u32::try_from(self.slab.len).map_err(|_| MemoryError::ShardFull)?;
        let digest = e.digest;
        let key = GrantKey::of(&digest.grant());
        // The key's first token, if it has the same owners, says the owner
        // lists already hold the key (see `owners`).
        let known = self
            .grants
            .positions(key)
            .first()
            .and_then(|&p| self.slab.get(p as usize))
            .is_some_and(|first| first.same_owners(&e));
        self.slab.push(e);
        self.grants.add(&mut self.slab, key, pos);
        if let Some(pushed) = self.slab.get(pos as usize) {
            self.owners.add(pushed, key, known, &self.grants, &self.slab);
        }
        match self.index.entry(Tag::of(&digest)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(pos);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.spill.insert(digest, pos);
            }
        }
        Ok(())
    }

    /// Marks every token of `grant` in this shard `Revoked`, in time
    /// linear in the grant's tokens (plus those of the rare grant that
    /// shares its key), whatever the shard's size.
    pub(crate) fn revoke_grant(&mut self, grant: &GrantId) {
        for &p in self.grants.positions(GrantKey::of(grant)) {
            if let Some(e) = self.slab.get_mut(p as usize) {
                if e.digest.grant() == *grant {
                    e.state = TokenState::Revoked;
                }
            }
        }
    }

    /// Revokes every token of every grant in this shard that has a token
    /// `scope` names, in time linear in the tokens of the owner's grants
    /// (see [`owners`]), whatever the shard's size. Returns how many of
    /// those grants had an `Active` token.
    pub(crate) fn revoke_all(&mut self, scope: &RevokeScope) -> usize {
        let Self { owners, grants, slab, .. } = self;
        let keys = match scope {
            RevokeScope::Client(c) => owners.of_client(c),
            RevokeScope::Subject(s) | RevokeScope::SubjectAtClient(s, _) => owners.of_subject(s),
            // The store refuses a scope it does not know before this.
            _ => &[],
        };
        let mut ended: Vec<GrantId> = Vec::new();
        let mut matched: Vec<GrantId> = Vec::new();
        for &key in keys {
            let members = grants.positions(key);
            // First the grants this key's tokens name, then every token of
            // them: a grant is revoked whole, as `revoke_grant` does.
            matched.clear();
            for &p in members {
                if let Some(e) = slab.get(p as usize) {
                    if matches(scope, e) && !matched.contains(&e.digest.grant()) {
                        matched.push(e.digest.grant());
                    }
                }
            }
            for &p in members {
                if let Some(e) = slab.get_mut(p as usize) {
                    let grant = e.digest.grant();
                    if matched.contains(&grant) {
                        if e.state == TokenState::Active && !ended.contains(&grant) {
                            ended.push(grant);
                        }
                        e.state = TokenState::Revoked;
                    }
                }
            }
        }
        ended.len()
    }

    /// Removes the entry at `i` and keeps every index pointing right.
    fn remove_at(&mut self, i: usize) -> Option<Entry> {
        let moved_from = self.slab.len.checked_sub(1)?;
        // Positions are below 2^31, so these never fail.
        let (Ok(pos), Ok(from)) = (u32::try_from(i), u32::try_from(moved_from)) else { return None };
        let (key, family_at) = self.slab.get(i).map(|e| (GrantKey::of(&e.digest.grant()), e.family_at))?;
        // Before the slab moves anything: a family member's `family_at` may
        // be updated here, and it must travel with the entry.
        self.grants.remove(&mut self.slab, key, pos, family_at);
        let last_of_key = self.grants.positions(key).is_empty();
        let removed = self.slab.swap_remove(i)?;
        self.unlink(&removed.digest, i);
        if i != moved_from {
            if let Some((moved, family_at)) = self.slab.get(i).map(|e| (e.digest, e.family_at)) {
                self.repoint(&moved, moved_from, i);
                self.grants.moved(GrantKey::of(&moved.grant()), family_at, from, pos);
            }
        }
        // After every index points right again: this may compact the
        // owner lists, which reads them.
        if last_of_key {
            self.owners.forget(&removed, &self.grants, &self.slab);
        }
        Some(removed)
    }

    fn unlink(&mut self, digest: &TokenDigest, pos: usize) {
        let tag = Tag::of(digest);
        if self.index.get(&tag).is_some_and(|&p| p as usize == pos) {
            self.index.remove(&tag);
        } else {
            self.spill.remove(digest);
        }
    }

    fn repoint(&mut self, digest: &TokenDigest, from: usize, to: usize) {
        // `to < from <= u32::MAX`, so this never fails.
        let Ok(to) = u32::try_from(to) else { return };
        match self.index.get_mut(&Tag::of(digest)) {
            Some(p) if *p as usize == from => *p = to,
            _ => {
                if let Some(p) = self.spill.get_mut(digest) {
                    *p = to;
                }
            }
        }
    }

    /// One bounded step of an expiry pass that walks positions downwards
    /// from `*cursor`: looks at up to `scan` entries and deletes up to
    /// `max_delete` with `expires_at <= now`. The pass is over when
    /// `*cursor` reaches 0.
    ///
    /// Walking downwards makes the cursor survive other steps between lock
    /// holds: removal only ever moves the *last* entry, so an entry below
    /// the cursor is never moved above it and never skipped (at worst an
    /// entry is looked at twice).
    pub(crate) fn purge_step(
        &mut self,
        now: UnixTime,
        cursor: &mut usize,
        scan: usize,
        max_delete: usize,
    ) -> usize {
        *cursor = (*cursor).min(self.slab.len);
        let mut deleted = 0;
        let mut looked = 0;
        while *cursor > 0 && looked < scan && deleted < max_delete {
            *cursor -= 1;
            looked += 1;
            if self.slab.get(*cursor).is_some_and(|e| e.expires_at <= now)
                && self.remove_at(*cursor).is_some()
            {
                deleted += 1;
            }
        }
        if *cursor == 0 {
            self.shrink_if_sparse();
        }
        deleted
    }

    /// Gives memory back after a mass expiry; hash maps never shrink by
    /// themselves. Only when 4x oversized, so that the rehash is rare.
    fn shrink_if_sparse(&mut self) {
        if self.index.capacity() > 64 && self.index.len() < self.index.capacity() / 4 {
            self.index.shrink_to(self.index.len() * 2);
        }
        if self.spill.is_empty() && self.spill.capacity() > 0 {
            self.spill.shrink_to_fit();
        }
        self.grants.shrink_if_sparse();
        self.owners.shrink_if_sparse();
    }
}

/// Whether `e` is a token `scope` names (as [`RevokeScope::matches`]).
fn matches(scope: &RevokeScope, e: &Entry) -> bool {
    match scope {
        RevokeScope::Client(c) => e.client_id == *c,
        RevokeScope::Subject(s) => e.subject() == Some(s),
        RevokeScope::SubjectAtClient(s, c) => e.subject() == Some(s) && e.client_id == *c,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use gatehouse_core::model::Claims;

    fn entry(grant: u8, hash: [u8; 32], exp: u64) -> Entry {
        let digest = TokenDigest::new(GrantId::from_bytes([grant; 16]), hash);
        let claims = Claims::new(ClientId::new("c").unwrap(), Scope::empty(), Arc::from([]));
        Entry::new(TokenRecord::access(digest, Jti::from_bytes([0; 16]), claims, UnixTime(0), UnixTime(exp)))
    }

    fn hash(tag: u8, tail: u8) -> [u8; 32] {
        let mut h = [tail; 32];
        h[..8].copy_from_slice(&[tag; 8]);
        h
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn entry_stays_compact() {
        // The memory budget depends on this; a field added to the record
        // should go into `Rare` unless nearly every token has it.
        assert!(std::mem::size_of::<Entry>() <= 152, "{}", std::mem::size_of::<Entry>());
    }

    #[test]
    fn shared_tags_spill_and_survive_removal() {
        let mut s = Shard::default();
        let a = entry(1, hash(7, 1), 10);
        let b = entry(1, hash(7, 2), 20);
        let c = entry(2, hash(7, 1), 30); // same hash as `a`, other grant
        let (da, db, dc) = (a.digest, b.digest, c.digest);
        for e in [a, b, c] {
            s.push_new(e).unwrap();
        }
        assert_eq!(s.spill.len(), 2);
        assert_eq!(s.get(&db).unwrap().expires_at, UnixTime(20));
        assert_eq!(s.get(&dc).unwrap().expires_at, UnixTime(30));
        // Removing the index holder leaves the spilled ones findable, and
        // the entry moved into its place is re-pointed.
        let mut cursor = usize::MAX;
        assert_eq!(s.purge_step(UnixTime(10), &mut cursor, 100, 100), 1);
        assert!(!s.contains(&da));
        assert_eq!(s.get(&db).unwrap().expires_at, UnixTime(20));
        assert_eq!(s.get(&dc).unwrap().expires_at, UnixTime(30));
        let mut cursor = usize::MAX;
        assert_eq!(s.purge_step(UnixTime(30), &mut cursor, 100, 100), 2);
        assert_eq!(s.len(), 0);
        assert!(s.index.is_empty() && s.spill.is_empty());
    }

    #[test]
    fn removal_across_chunks_keeps_every_position_right() {
        let mut s = Shard::default();
        let n = CHUNK * 2 + 5;
        let mut digests = Vec::new();
        for i in 0..n {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let e = entry(3, h, if i % 3 == 0 { 5 } else { 50 });
            digests.push((e.digest, i % 3 == 0));
            s.push_new(e).unwrap();
        }
        // Small steps, as the store does between lock holds.
        let mut cursor = usize::MAX;
        let mut deleted = 0;
        while cursor > 0 {
            deleted += s.purge_step(UnixTime(5), &mut cursor, 7, 3);
        }
        assert_eq!(deleted, n.div_ceil(3));
        for (d, expired) in digests {
            assert_eq!(s.contains(&d), !expired);
            if !expired {
                assert_eq!(s.get(&d).unwrap().digest, d);
            }
        }
        assert_eq!(s.slab.chunks.len(), s.len().div_ceil(CHUNK));
        s.grants.assert_exact(&s.slab);
    }

    #[test]
    fn families_are_renumbered_after_a_mass_expiry() {
        let mut s = Shard::default();
        // 100 two-token grants; the first 90 expire.
        for g in 0..100u64 {
            for t in 0..2u64 {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&(g * 2 + t).to_le_bytes());
                let mut grant = [0u8; 16];
                grant[8..16].copy_from_slice(&g.to_le_bytes());
                let mut e = entry(0, h, if g < 90 { 5 } else { 50 });
                e.digest = TokenDigest::new(GrantId::from_bytes(grant), h);
                s.push_new(e).unwrap();
            }
        }
        let mut cursor = usize::MAX;
        while cursor > 0 {
            s.purge_step(UnixTime(5), &mut cursor, 64, 64);
        }
        assert_eq!(s.len(), 20);
        assert_eq!(s.grants.families_in_table(), 10);
        s.grants.assert_exact(&s.slab);
        let mut grant = [0u8; 16];
        grant[8..16].copy_from_slice(&95u64.to_le_bytes());
        s.revoke_grant(&GrantId::from_bytes(grant));
        let revoked = (0..s.len()).filter(|&i| s.slab.get(i).unwrap().state == TokenState::Revoked).count();
        assert_eq!(revoked, 2);
    }

    /// Grant `g`: grants `2k` and `2k + 1` share their grant key, so the
    /// shared-family path runs too.
    fn grant_id(g: u8) -> GrantId {
        let mut b = [g; 16];
        b[8..12].fill(g / 2);
        GrantId::from_bytes(b)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u8, u64),
        Purge(u64, usize, usize),
        RevokeGrant(u8),
        RevokeAll(u8),
    }

    /// The owners of grant `g`: two clients, and no subject or one of two.
    fn owners_of(g: u8) -> (ClientId, Option<Subject>) {
        let client = ClientId::new(&format!("c{}", g % 2)).unwrap();
        let subject = (g % 3 != 0).then(|| Subject::new(&format!("s{}", g % 3)).unwrap());
        (client, subject)
    }

    /// Scope `n`: each client, each subject, and each subject at each
    /// client.
    fn scope_of(n: u8) -> RevokeScope {
        let client = ClientId::new(&format!("c{}", n % 2)).unwrap();
        let subject = Subject::new(&format!("s{}", 1 + (n / 2) % 2)).unwrap();
        match n % 3 {
            0 => RevokeScope::Client(client),
            1 => RevokeScope::Subject(subject),
            _ => RevokeScope::SubjectAtClient(subject, client),
        }
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0..6u8, 0..8u64).prop_map(|(g, e)| Op::Push(g, e)),
            2 => (0..8u64, 1..6usize, 1..4usize).prop_map(|(t, sc, d)| Op::Purge(t, sc, d)),
            1 => (0..6u8).prop_map(Op::RevokeGrant),
            1 => (0..12u8).prop_map(Op::RevokeAll),
        ]
    }

    proptest::proptest! {
        /// After every push, removal (and the move it makes) and grant
        /// revocation, the grant index holds exactly the shard's positions,
        /// and `revoke_grant` revokes exactly the grant's entries.
        #[test]
        fn grant_index_stays_exact(ops in proptest::collection::vec(op(), 0..200)) {
            let mut s = Shard::default();
            let mut next = 0u64;
            for op in ops {
                match op {
                    Op::Push(g, exp) => {
                        next += 1;
                        let mut h = [0u8; 32];
                        h[..8].copy_from_slice(&next.to_le_bytes());
                        let mut r = entry(0, h, exp).to_record();
                        r.digest = TokenDigest::new(grant_id(g), h);
                        (r.client_id, r.subject) = owners_of(g);
                        s.push_new(Entry::new(r)).unwrap();
                    }
                    Op::Purge(t, scan, max) => {
                        let mut cursor = usize::MAX;
                        while cursor > 0 {
                            s.purge_step(UnixTime(t), &mut cursor, scan, max);
                            s.grants.assert_exact(&s.slab);
                            s.owners.assert_covers(&s.slab);
                        }
                    }
                    Op::RevokeAll(n) => {
                        let scope = scope_of(n);
                        let before: Vec<TokenRecord> = (0..s.len()).map(|i| s.slab.get(i).unwrap().to_record()).collect();
                        let matched: std::collections::HashSet<GrantId> =
                            before.iter().filter(|r| scope.matches(r)).map(TokenRecord::grant_id).collect();
                        let active: std::collections::HashSet<GrantId> = before
                            .iter()
                            .filter(|r| matched.contains(&r.grant_id()) && r.state == TokenState::Active)
                            .map(TokenRecord::grant_id)
                            .collect();
                        assert_eq!(s.revoke_all(&scope), active.len(), "{scope:?}");
                        for (i, was) in before.into_iter().enumerate() {
                            let e = s.slab.get(i).unwrap();
                            let hit = matched.contains(&was.grant_id());
                            assert_eq!(e.state, if hit { TokenState::Revoked } else { was.state }, "{scope:?}");
                        }
                    }
                    Op::RevokeGrant(g) => {
                        let before: Vec<_> = (0..s.len()).map(|i| s.slab.get(i).unwrap().state).collect();
                        s.revoke_grant(&grant_id(g));
                        for (i, was) in before.into_iter().enumerate() {
                            let e = s.slab.get(i).unwrap();
                            let want = if e.digest.grant() == grant_id(g) { TokenState::Revoked } else { was };
                            assert_eq!(e.state, want);
                        }
                    }
                }
                s.grants.assert_exact(&s.slab);
                s.owners.assert_covers(&s.slab);
                // Lazy cleaning keeps the owner lists near their live size.
                assert!(s.owners.listed() <= 2 * 2 * s.len() + 4 * 16, "{} listed", s.owners.listed());
            }
        }
    }
}
