//! The data the protocol works on: clients, token records and the small
//! validated types they are made of.

mod client;
mod id_hasher;
mod ids;
mod record;
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
pub use scope::Scope;
