#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::model::Claims;

fn sample() -> TokenRecord {
    let digest = TokenDigest::new(GrantId::from_bytes([7; 16]), [0xab; 32]);
    let audience: Arc<[Resource]> = [Resource::new("https://api.example").unwrap()].into();
    let claims =
        Claims::new(ClientId::new("web app").unwrap(), Scope::parse("write read").unwrap(), audience)
            .with_subject(Subject::new("alice").unwrap());
    let binding = CodeBinding {
        redirect_uri: "https://app.example/cb?x=1".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
    };
    let (iat, exp) = (UnixTime(1_700_000_000), UnixTime(1_700_000_060));
    TokenRecord::code(digest, Jti::from_bytes([3; 16]), claims, binding, iat, exp)
}

/// What `serde_json::to_string(&sample())` wrote before the binary format
/// (copied from that code's output, not regenerated): stored rows and
/// values of this form must keep decoding.
const OLD_JSON: &str = r#"{"digest":"BwcHBwcHBwcHBwcHBwcHBw.abababababababababababababababababababababababababababababababab","kind":"authorization_code","client_id":"web app","subject":"alice","scope":"read write","audience":["https://api.example"],"issued_at":1700000000,"not_before":1700000000,"expires_at":1700000060,"jti":"AwMDAwMDAwMDAwMDAwMDAw","state":"active","code":{"redirect_uri":"https://app.example/cb?x=1","code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}}"#;

#[test]
fn an_old_json_record_still_decodes() {
    assert_eq!(decode_record(OLD_JSON.as_bytes()).unwrap(), sample());
    let revoked = OLD_JSON.replace(r#""state":"active""#, r#""state":"revoked""#);
    assert_eq!(decode_record(revoked.as_bytes()).unwrap().state, TokenState::Revoked);
}

#[test]
fn the_layout_is_as_documented() {
    let mut r = sample();
    r.state = TokenState::Consumed;
    let b = encode_record(&r);
    assert_eq!(b[0], RECORD_FORMAT_VERSION);
    assert_ne!(RECORD_FORMAT_VERSION, b'{');
    assert_eq!(b[STATE_OFFSET], 2);
    assert_eq!((b[2], b[3]), (2, FLAG_SUBJECT | FLAG_CODE));
    assert_eq!(&b[4..20], &[7; 16]);
    assert_eq!(&b[20..52], &[0xab; 32]);
    assert_eq!(&b[52..68], &[3; 16]);
    assert_eq!(b[68..76], 1_700_000_000u64.to_le_bytes());
    assert_eq!(b[EXPIRES_AT_OFFSET..EXPIRES_AT_OFFSET + 8], 1_700_000_060u64.to_le_bytes());
    assert_eq!(&b[FIXED_LEN..FIXED_LEN + 8], b"\x07web app");
    // A backend may patch the state in place.
    let mut patched = b.clone();
    patched[STATE_OFFSET] = 1;
    assert_eq!(decode_record(&patched).unwrap().state, TokenState::Revoked);
    // Smaller than the JSON it replaces.
    assert!(b.len() * 2 < OLD_JSON.len(), "{} bytes", b.len());
}

#[test]
fn unknown_versions_and_trailing_bytes_are_refused() {
    assert_eq!(decode_record(b""), Err(RecordDecodeError::Empty));
    for v in [0u8, 2, b'[', b' ', 0xff] {
        assert_eq!(decode_record(&[v, 0, 0]), Err(RecordDecodeError::UnknownVersion(v)));
    }
    let mut b = encode_record(&sample());
    b.push(0);
    assert_eq!(decode_record(&b), Err(RecordDecodeError::TrailingBytes(1)));
    assert!(matches!(decode_record(b"{\"digest\":"), Err(RecordDecodeError::Json { .. })));
}

/// `sample()` encoded, with the bytes from the client id's length on
/// replaced by `tail`.
fn with_tail(tail: &[u8]) -> Vec<u8> {
    let mut b = encode_record(&sample());
    b.truncate(FIXED_LEN);
    b.extend_from_slice(tail);
    b
}

#[test]
fn a_huge_length_is_refused_before_any_allocation() {
    // u64::MAX as a varint, then u32::MAX: lengths past the input.
    let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert_eq!(decode_record(&with_tail(&max)), Err(RecordDecodeError::Truncated("client_id")));
    let big = [0xff, 0xff, 0xff, 0xff, 0x0f, b'a'];
    assert_eq!(decode_record(&with_tail(&big)), Err(RecordDecodeError::Truncated("client_id")));
    // An eleventh byte, or a tenth above bit 63, overflows.
    let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    assert!(matches!(decode_record(&with_tail(&over)), Err(RecordDecodeError::Invalid { .. })));
    // Seven as two bytes: decodable, but not the one encoding of seven.
    let overlong = [0x87, 0x00];
    assert!(matches!(decode_record(&with_tail(&overlong)), Err(RecordDecodeError::Invalid { .. })));
    let long = [0x80; 11];
    assert!(matches!(decode_record(&with_tail(&long)), Err(RecordDecodeError::Invalid { .. })));
    // An audience count past the bytes left.
    let mut b = with_tail(b"\x01a\x01s\x00");
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(decode_record(&b), Err(RecordDecodeError::Truncated("audience")));
}

#[test]
fn every_field_is_validated_and_errors_do_not_echo_it() {
    let cases: [(&[u8], &str); 5] = [
        (b"\x08zzz\x01zzzz\x01s\x00\x00", "client_id"),
        (b"\x01a\x04\xffzzz\x00\x00", "subject"),
        (b"\x01a\x01s\x05zzz b\x00", "scope"),
        (b"\x01a\x01s\x00\x01\x03zzz", "audience"),
        (b"\x01a\x01s\x00\x00\x04\xffzzz\x00", "redirect_uri"),
    ];
    for (tail, what) in cases {
        let err = decode_record(&with_tail(tail)).unwrap_err();
        assert!(matches!(err, RecordDecodeError::Invalid { what: w, .. } if w == what), "{what}: {err:?}");
        assert!(!err.to_string().contains("zzz"), "{err}");
    }
    let mut b = encode_record(&sample());
    for (offset, value, what) in [(STATE_OFFSET, 3, "state"), (2, 3, "kind"), (3, 4, "flags")] {
        let old = std::mem::replace(&mut b[offset], value);
        assert!(matches!(decode_record(&b), Err(RecordDecodeError::Invalid { what: w, .. }) if w == what));
        b[offset] = old;
    }
    assert_eq!(decode_record(&b).unwrap(), sample());
}

fn client_id() -> impl Strategy<Value = ClientId> {
    "[!-~]([ -~]{0,40}[!-~])?".prop_map(|s| ClientId::new(&s).unwrap())
}

fn subject() -> impl Strategy<Value = Subject> {
    "[^\\p{Cc}]{1,60}".prop_map(|s| Subject::new(&s).unwrap())
}

fn scope() -> impl Strategy<Value = Scope> {
    prop::collection::vec("[!#-\\[\\]-~]{1,12}", 0..6).prop_map(|v| Scope::parse(&v.join(" ")).unwrap())
}

fn resource() -> impl Strategy<Value = Resource> {
    "[a-z][a-z0-9+.-]{0,8}:[!-\"$-~]{1,200}".prop_map(|s| Resource::new(&s).unwrap())
}

fn time() -> impl Strategy<Value = UnixTime> {
    prop_oneof![any::<u64>(), 0..4_000_000_000u64].prop_map(UnixTime)
}

fn state() -> impl Strategy<Value = TokenState> {
    prop_oneof![Just(TokenState::Active), Just(TokenState::Revoked), Just(TokenState::Consumed)]
}

fn kind() -> impl Strategy<Value = TokenKind> {
    prop_oneof![Just(TokenKind::Access), Just(TokenKind::Refresh), Just(TokenKind::AuthorizationCode)]
}

fn binding() -> impl Strategy<Value = CodeBinding> {
    // Any strings: the record does not validate them, so neither does the
    // codec; lengths past 127 take two varint bytes.
    (".{0,300}", ".{0,50}")
        .prop_map(|(redirect_uri, code_challenge)| CodeBinding { redirect_uri, code_challenge })
}

prop_compose! {
    fn record()(
        grant in any::<[u8; 16]>(),
        hash in any::<[u8; 32]>(),
        jti in any::<[u8; 16]>(),
        kind in kind(),
        state in state(),
        client_id in client_id(),
        subject in prop::option::of(subject()),
        scope in scope(),
        audience in prop::collection::vec(resource(), 0..4),
        times in (time(), time(), time()),
        code in prop::option::of(binding()),
    ) -> TokenRecord {
        TokenRecord {
            digest: TokenDigest::new(GrantId::from_bytes(grant), hash),
            kind,
            client_id,
            subject,
            scope,
            audience: audience.into(),
            issued_at: times.0,
            not_before: times.1,
            expires_at: times.2,
            jti: Jti::from_bytes(jti),
            state,
            code: code.map(Box::new),
        }
    }
}

proptest! {
    #[test]
    fn every_record_round_trips(r in record()) {
        let b = encode_record(&r);
        prop_assert_eq!(b[0], RECORD_FORMAT_VERSION);
        prop_assert_eq!(decode_record(&b)?, r.clone());
        // And the JSON form older code wrote still reads as the same record.
        prop_assert_eq!(decode_record(&serde_json::to_vec(&r).unwrap())?, r);
    }

    #[test]
    fn every_truncation_is_an_error(r in record()) {
        let b = encode_record(&r);
        for n in 0..b.len() {
            prop_assert!(decode_record(&b[..n]).is_err(), "prefix of {} of {} bytes decoded", n, b.len());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..200), first in any::<u8>()) {
        let mut b = vec![first];
        b.extend_from_slice(&tail);
        let _ = decode_record(&b);
        // And behind a valid fixed part, where the variable fields start.
        let mut b = with_tail(&[]);
        b.extend_from_slice(&tail);
        let _ = decode_record(&b);
    }

    #[test]
    fn a_changed_byte_never_panics_and_what_decodes_re_encodes(
        r in record(), at in any::<prop::sample::Index>(), value in any::<u8>(),
    ) {
        let mut b = encode_record(&r);
        let i = at.index(b.len());
        b[i] = value;
        // A change that still decodes is a record whose encoding is these
        // very bytes: there is one encoding per record.
        if let Ok(d) = decode_record(&b) {
            prop_assert_eq!(encode_record(&d), b);
        }
    }
}
