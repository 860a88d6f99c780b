//! The crate's one error type: what can go wrong while building the
//! routes and layers, before any request is served.

use gatehouse_core::model::ValueError;

/// Why a [`Gatehouse`](crate::Gatehouse) router or a
/// [`RequireBearer`](crate::RequireBearer) layer could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The audience or scope a protected route requires is not valid.
    #[error("invalid bearer requirement: {0}")]
    Requirement(#[from] ValueError),
    /// The core refused the configuration or an endpoint path (the
    /// metadata document cannot be built from them).
    #[error("{0}")]
    Config(#[from] gatehouse_core::Error),
}
