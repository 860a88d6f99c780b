//! The data the protocol works on: clients, token records and the small
//! validated types they are made of.

mod client;
mod id_hasher;
mod ids;
mod record;
mod record_codec;
mod redirect_uri;
mod scope;

pub use client::{
    Client, ClientAuth, GrantType, GrantTypes, PreviousSecret, RegistrationError, ResourceServer,
    SecretDigest, MIN_SECRET_LEN,
};
pub use id_hasher::{IdHasher, IdHashing};
pub(crate) use ids::GRANT_ID_RANDOM_LEN;
pub use ids::{ClientId, GrantId, Jti, Resource, Subject, ValueError};
pub use record::{Claims, CodeBinding, TokenDigest, TokenKind, TokenRecord, TokenState};
pub use record_codec::{
    decode_record, encode_record, encode_record_into, RecordDecodeError, EXPIRES_AT_OFFSET,
    RECORD_FORMAT_VERSION, STATE_OFFSET,
};
pub use scope::Scope;
