//! What the tests share: a writer that keeps what a subscriber writes, the
//! output of one event through a subscriber built around it, and the values
//! the events are built from.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

use gatehouse_core::model::{ClientId, GrantId, Jti, Resource, Scope, Subject};
use gatehouse_core::{AuditEvent, AuditSink};
use gatehouse_tracing::TracingSink;

/// Keeps every byte written to it (or to a clone of it).
#[derive(Clone, Default)]
pub(crate) struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What [`TracingSink`] writes for `event` through the subscriber `make`
/// builds around a buffer.
pub(crate) fn recorded<S>(event: &AuditEvent<'_>, make: impl FnOnce(Buffer) -> S) -> String
where
    S: tracing::Subscriber + Send + Sync + 'static,
{
    let buffer = Buffer::default();
    tracing::subscriber::with_default(make(buffer.clone()), || TracingSink.record(event));
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// The ids and values both test files build their events from.
pub(crate) struct Sample {
    pub(crate) app: ClientId,
    pub(crate) rs: ClientId,
    pub(crate) alice: Subject,
    pub(crate) grant: GrantId,
    pub(crate) jti: Jti,
    pub(crate) scope: Scope,
    pub(crate) audience: [Resource; 2],
}

impl Sample {
    pub(crate) fn new() -> Self {
        Self {
            app: ClientId::new("app").unwrap(),
            rs: ClientId::new("rs").unwrap(),
            alice: Subject::new("alice").unwrap(),
            grant: GrantId::from_bytes([1; 16]),
            jti: Jti::from_bytes([2; 16]),
            scope: Scope::parse("read write").unwrap(),
            audience: [
                Resource::new("https://a.example").unwrap(),
                Resource::new("https://b.example").unwrap(),
            ],
        }
    }
}
