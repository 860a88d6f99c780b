//! Scope (RFC 6749 §3.3): a set of space-delimited scope tokens.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ids::ValueError;

/// A validated scope set, kept in canonical form (sorted, no duplicates,
/// single spaces) so that equal sets have equal strings and subset checks
/// are a linear merge.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Scope(Arc<str>);

const MAX_SCOPE_LEN: usize = 4096;

impl Scope {
    /// The empty scope.
    pub fn empty() -> Self {
        Self(Arc::from(""))
    }

    /// Parses a space-delimited scope string (RFC 6749 §3.3:
    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`).
    ///
    /// Repeated tokens collapse; the order given does not matter.
    ///
    /// # Errors
    /// [`ValueError`] for a character outside `scope-token`, or a string
    /// over 4096 bytes.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "scope";
        if s.len() > MAX_SCOPE_LEN {
            return Err(ValueError { what: WHAT, rule: "longer than 4096 bytes" });
        }
        let mut tokens: Vec<&str> = Vec::new();
        for t in s.split(' ') {
            if t.is_empty() {
                continue;
            }
            if !t.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
                return Err(ValueError {
                    what: WHAT,
                    rule: "character not allowed in a scope token (RFC 6749 section 3.3)",
                });
            }
            tokens.push(t);
        }
        Ok(Self::from_sorted(tokens))
    }

    /// Takes `s` as it is when it is already in canonical form (what
    /// [`as_str`](Self::as_str) gives: valid tokens, sorted, without
    /// repeats, single spaces), as a stored scope is: one pass, no sort.
    ///
    /// # Errors
    /// [`ValueError`] when `s` is not in canonical form.
    pub(crate) fn from_canonical(s: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "scope";
        if s.len() > MAX_SCOPE_LEN {
            return Err(ValueError { what: WHAT, rule: "longer than 4096 bytes" });
        }
        let mut previous: Option<&str> = None;
        // `split` yields one empty token for "" (the empty scope, allowed)
        // and one per extra space otherwise (refused below).
        for t in s.split(' ') {
            if !t.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
                return Err(ValueError {
                    what: WHAT,
                    rule: "character not allowed in a scope token (RFC 6749 section 3.3)",
                });
            }
            if (t.is_empty() && !s.is_empty()) || previous.is_some_and(|p| p >= t) {
                return Err(ValueError { what: WHAT, rule: "not in canonical form" });
            }
            previous = Some(t);
        }
        Ok(Self(Arc::from(s)))
    }

    fn from_sorted(mut tokens: Vec<&str>) -> Self {
        tokens.sort_unstable();
        tokens.dedup();
        Self(Arc::from(tokens.join(" ")))
    }

    /// The canonical space-delimited form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the set has no tokens.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scope tokens in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|t| !t.is_empty())
    }

    /// Whether `token` is in the set.
    pub fn contains(&self, token: &str) -> bool {
        self.iter().any(|t| t == token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        if Arc::ptr_eq(&self.0, &other.0) || self.is_empty() {
            return true;
        }
        let mut theirs = other.iter();
        // Both are sorted: one pass.
        'outer: for mine in self.iter() {
            for t in theirs.by_ref() {
                match t.cmp(mine) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal => continue 'outer,
                    std::cmp::Ordering::Greater => return false,
                }
            }
            return false;
        }
        true
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({:?})", &*self.0)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        assert_eq!(Scope::parse("b a  b").unwrap().as_str(), "a b");
        assert_eq!(Scope::parse("").unwrap(), Scope::empty());
        assert_eq!(Scope::parse("   ").unwrap(), Scope::empty());
    }

    #[test]
    fn from_canonical_takes_only_the_canonical_form() {
        for s in ["", "a", "a b", "read write", "a!b c~"] {
            assert_eq!(Scope::from_canonical(s).unwrap(), Scope::parse(s).unwrap(), "{s:?}");
        }
        for s in ["b a", "a a", "a  b", " a", "a ", " ", "a\"b", "é", &"a".repeat(5000)] {
            assert!(Scope::from_canonical(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn bad_characters_refused() {
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("a\tb").is_err());
        assert!(Scope::parse("é").is_err());
        assert!(Scope::parse(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn subset() {
        let all = Scope::parse("read write admin").unwrap();
        assert!(Scope::parse("read").unwrap().is_subset_of(&all));
        assert!(Scope::parse("admin write").unwrap().is_subset_of(&all));
        assert!(Scope::empty().is_subset_of(&all));
        assert!(!Scope::parse("delete").unwrap().is_subset_of(&all));
        assert!(!Scope::parse("read zzz").unwrap().is_subset_of(&all));
        assert!(!Scope::parse("aaa read").unwrap().is_subset_of(&all));
        assert!(!Scope::parse("read").unwrap().is_subset_of(&Scope::empty()));
        assert!(all.contains("write"));
        assert!(!all.contains("writ"));
    }
}
