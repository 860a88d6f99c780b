//! A fast hasher for tables keyed by registered identifiers.

use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a (64-bit): a few instructions per byte and no per-table key,
/// against SipHash's fixed cost that dominates for short identifiers.
///
/// Only for tables whose keys an attacker cannot choose: clients the
/// operator registered, callers that authenticated. An attacker can still
/// look up any id, but lookups of absent keys cannot lengthen chains; only
/// inserted keys could, and those are not theirs.
#[derive(Debug, Clone, Copy)]
pub struct IdHasher(u64);

impl Default for IdHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The `BuildHasher` for [`IdHasher`]: `HashMap<ClientId, V, IdHashing>`.
pub type IdHashing = BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    #[test]
    fn fnv1a_reference_values() {
        let h = |s: &str| {
            let mut x = IdHasher::default();
            x.write(s.as_bytes());
            x.finish()
        };
        // Published FNV-1a 64 test vectors.
        assert_eq!(h(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(h("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(h("foobar"), 0x8594_4171_f739_67e8);
        let ids = IdHashing::default();
        let a = crate::model::ClientId::new("app").unwrap();
        let b = crate::model::ClientId::new("apq").unwrap();
        assert_ne!(ids.hash_one(&a), ids.hash_one(&b));
        let mut m = std::collections::HashMap::with_hasher(ids);
        a.hash(&mut IdHasher::default());
        m.insert(a.clone(), 1);
        assert_eq!(m.get(&a), Some(&1));
        assert_eq!(m.get(&b), None);
    }
}
