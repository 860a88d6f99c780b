//! What the tests share: a writer that keeps what a subscriber writes, and
//! the output of one event through a subscriber built around it.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

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
