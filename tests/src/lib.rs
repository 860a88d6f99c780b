//! Conformance suite (work in progress).
#![forbid(unsafe_code)]

pub mod server_checks;
pub mod world;
pub mod wrappers;
