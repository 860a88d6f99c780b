//! The token format: `Keyring::verify` on arbitrary text never panics and
//! never accepts what it did not mint; a minted token verifies (also after
//! the key is rotated to verify-only) with its kind and digest; and any
//! change to a minted token is rejected: one fuzzed mutation, and the
//! fuzzed byte written at every position in turn (so a change that only
//! one position and one byte make, like `gat_` to `gac_`, is a few hundred
//! runs away rather than millions).
#![no_main]

use arbitrary::Arbitrary;
use gatehouse_core::model::{GrantId, TokenKind};
use gatehouse_core::{KeyId, Keyring};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Mutation {
    Replace { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Truncate { len: usize },
    Append { bytes: Vec<u8> },
    Swap { a: usize, b: usize },
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    presented: &'a str,
    kid: &'a str,
    secret: [u8; 32],
    kind: u8,
    grant: [u8; 16],
    mutation: Mutation,
    sweep: u8,
}

fn mutate(token: &[u8], m: &Mutation) -> Vec<u8> {
    let mut t = token.to_vec();
    let n = t.len();
    match m {
        Mutation::Replace { at, byte } => t[at % n] = *byte,
        Mutation::Insert { at, byte } => t.insert(at % (n + 1), *byte),
        Mutation::Delete { at } => {
            t.remove(at % n);
        }
        Mutation::Truncate { len } => t.truncate(len % n),
        Mutation::Append { bytes } => t.extend_from_slice(bytes),
        Mutation::Swap { a, b } => t.swap(a % n, b % n),
    }
    t
}

fuzz_target!(|input: Input<'_>| {
    let kid = KeyId::new(input.kid).unwrap_or_else(|_| KeyId::new("k1").expect("key id"));
    let keys = Keyring::new((kid.clone(), &input.secret), &[]).expect("keyring");

    // Whatever the fuzzer writes, it cannot produce a valid tag.
    assert!(keys.verify(input.presented).is_err(), "accepted a token it never minted");

    let kind = match input.kind % 3 {
        0 => TokenKind::Access,
        1 => TokenKind::Refresh,
        _ => TokenKind::AuthorizationCode,
    };
    let grant = GrantId::from_bytes(input.grant);
    let (raw, digest) = keys.mint(kind, grant).expect("random source");
    let token = raw.expose();
    let v = keys.verify(token).expect("a minted token verifies");
    assert_eq!((v.kind, v.digest, v.digest.grant()), (kind, digest, grant));

    // Rotation: the key, now verify-only, still accepts it.
    let other = if kid.as_str() == "k0" { "k9" } else { "k0" };
    let rotated = Keyring::new((KeyId::new(other).expect("key id"), &[1u8; 32]), &[(kid, &input.secret)])
        .expect("keyring");
    assert_eq!(rotated.verify(token).expect("verifies after rotation").digest, digest);

    let mut swept = token.as_bytes().to_vec();
    for i in 0..swept.len() {
        let was = std::mem::replace(&mut swept[i], input.sweep);
        if was != input.sweep {
            if let Ok(changed) = std::str::from_utf8(&swept) {
                assert!(keys.verify(changed).is_err(), "byte {i} set to {} verified", input.sweep);
            }
        }
        swept[i] = was;
    }

    let changed = mutate(token.as_bytes(), &input.mutation);
    if changed != token.as_bytes() {
        if let Ok(changed) = std::str::from_utf8(&changed) {
            assert!(keys.verify(changed).is_err(), "a changed token verified: {:?}", input.mutation);
            assert!(rotated.verify(changed).is_err(), "a changed token verified after rotation");
        }
    }
});
