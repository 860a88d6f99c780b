//! Where the example's log lines go: standard error, written in batches.
//!
//! At the default `info` level the audit trail has a line for every
//! request; writing each line with its own `write(2)` is a system call per
//! request, on the request's thread. [`LogWriter`] keeps `info` and more
//! verbose lines in a buffer that is written out when it fills, when a
//! line of level `warn` or `error` arrives (after that line: replays,
//! throttling and store failures reach the log at once, with everything
//! before them), and at least every `flush_every` by a background thread.
//! [`LogWriter::flush`] writes out the rest; the server calls it when it
//! stops. Nothing is dropped: a writer that cannot keep up makes the
//! logging thread wait, as an unbuffered one would.
//!
//! What a batch costs: a process killed without a chance to flush
//! (`SIGKILL`, an abort) loses the `info` lines of its last `flush_every`.
//! `flush_every` of zero writes every line at once.
//!
//! Not `tracing-appender`'s non-blocking writer: it hands each line to a
//! writer thread, which on a busy single core is woken (and switched to)
//! for almost every line: under `strace` it made more system calls per
//! request than this buffer does (futex wake-ups and `sched_yield`s beside
//! its writes).

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How much a batch holds before it is written out.
const CAPACITY: usize = 64 * 1024;

/// A `tracing-subscriber` writer that batches lines (see the module docs).
/// Clones share one buffer.
#[derive(Debug)]
pub struct LogWriter<W: Write> {
    shared: Arc<Mutex<Batch<W>>>,
}

impl<W: Write> Clone for LogWriter<W> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

#[derive(Debug)]
struct Batch<W: Write> {
    buf: Vec<u8>,
    out: W,
    /// Whether every line is written at once (`flush_every` of zero).
    unbuffered: bool,
}

impl<W: Write> Batch<W> {
    /// Writes out the buffer. On an error the buffer is kept, to be tried
    /// again with the next flush: a log that is briefly unwritable loses
    /// nothing, and one that stays unwritable grows no further than
    /// [`CAPACITY`] before each line is tried on its own.
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.out.flush()
    }
}

impl<W: Write> Drop for Batch<W> {
    /// The last clone of the writer is gone: write out what is left.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<W: Write + Send + 'static> LogWriter<W> {
    /// A writer into `out`, with a background thread that writes out what
    /// is buffered every `flush_every` (none for zero). The thread ends
    /// when the last clone of the writer is dropped.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start(out: W, flush_every: Duration) -> io::Result<Self> {
        let writer = Self::new(out, flush_every.is_zero());
        if !flush_every.is_zero() {
            let weak = Arc::downgrade(&writer.shared);
            std::thread::Builder::new()
                .name("gatehouse-log-flush".into())
                .spawn(move || flush_periodically(&weak, flush_every))?;
        }
        Ok(writer)
    }
}

impl<W: Write> LogWriter<W> {
    /// A writer into `out` with no background thread: lines are written
    /// out when the buffer fills, at each `warn` or `error` line, and by
    /// [`flush`](Self::flush) (every line at once when `unbuffered`).
    pub fn new(out: W, unbuffered: bool) -> Self {
        let batch = Batch { buf: Vec::with_capacity(CAPACITY), out, unbuffered };
        Self { shared: Arc::new(Mutex::new(batch)) }
    }

    /// Writes out every buffered line.
    ///
    /// # Errors
    /// The output's error; the lines stay buffered for the next try.
    pub fn flush(&self) -> io::Result<()> {
        self.lock().flush()
    }

    /// The writer for one line; `urgent` writes the batch out after it.
    fn line(&self, urgent: bool) -> Line<'_, W> {
        Line { batch: self.lock(), urgent }
    }

    /// The buffer, also after a thread panicked while holding it: its
    /// bytes are whole lines or a line's prefix, both worth writing.
    fn lock(&self) -> MutexGuard<'_, Batch<W>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes out the buffer every `period` until the writer is gone.
fn flush_periodically<W: Write>(shared: &Weak<Mutex<Batch<W>>>, period: Duration) {
    loop {
        std::thread::sleep(period);
        let Some(shared) = shared.upgrade() else { return };
        let mut batch = shared.lock().unwrap_or_else(PoisonError::into_inner);
        // Nothing to report an error to: the lines stay for the next try.
        let _ = batch.flush();
    }
}

/// One line being written: appended to the batch, which is written out
/// when this is dropped if the line asked for it.
pub struct Line<'a, W: Write> {
    batch: MutexGuard<'a, Batch<W>>,
    urgent: bool,
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let batch = &mut *self.batch;
        if batch.buf.len() + bytes.len() > CAPACITY {
            // Full: write out what came before, so lines stay in order;
            // on an error this line is still kept (the buffer grows).
            let _ = batch.flush();
        }
        batch.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.batch.flush()
    }
}

impl<W: Write> Drop for Line<'_, W> {
    fn drop(&mut self) {
        if self.urgent || self.batch.unbuffered {
            let _ = self.batch.flush();
        }
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for LogWriter<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        self.line(false)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.line(urgent(*meta.level()))
    }
}

/// Whether a line of `level` is written out at once: `warn` and `error`.
fn urgent(level: Level) -> bool {
    // `Level`'s order runs from the most verbose: WARN and ERROR are the
    // smallest.
    level <= Level::WARN
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that records what reached it, and can be made to fail.
    #[derive(Clone, Default)]
    struct Sink {
        written: Arc<Mutex<Vec<u8>>>,
        failing: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(io::Error::other("disk full"));
            }
            self.written.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }
    }

    fn line(w: &LogWriter<Sink>, level: Level, text: &str) {
        w.line(urgent(level)).write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn warn_and_error_are_urgent_info_and_below_are_not() {
        assert!(urgent(Level::ERROR) && urgent(Level::WARN));
        assert!(!urgent(Level::INFO) && !urgent(Level::DEBUG) && !urgent(Level::TRACE));
    }

    #[test]
    fn info_lines_wait_for_a_flush_and_keep_their_order() {
        let sink = Sink::default();
        let w = LogWriter::new(sink.clone(), false);
        line(&w, Level::INFO, "a\n");
        line(&w, Level::DEBUG, "b\n");
        assert_eq!(sink.text(), "");
        w.flush().unwrap();
        assert_eq!(sink.text(), "a\nb\n");
    }

    #[test]
    fn a_warn_line_writes_itself_and_everything_before_it() {
        let sink = Sink::default();
        let w = LogWriter::new(sink.clone(), false);
        line(&w, Level::INFO, "decision\n");
        line(&w, Level::WARN, "replay\n");
        assert_eq!(sink.text(), "decision\nreplay\n");
    }

    #[test]
    fn unbuffered_writes_every_line_at_once() {
        let sink = Sink::default();
        let w = LogWriter::new(sink.clone(), true);
        line(&w, Level::INFO, "a\n");
        assert_eq!(sink.text(), "a\n");
    }

    #[test]
    fn a_full_buffer_is_written_out_before_the_next_line() {
        let sink = Sink::default();
        let w = LogWriter::new(sink.clone(), false);
        let long = "x".repeat(CAPACITY - 1) + "\n";
        line(&w, Level::INFO, &long);
        assert_eq!(sink.text(), "");
        line(&w, Level::INFO, "next\n");
        assert_eq!(sink.text(), long);
        w.flush().unwrap();
        assert_eq!(sink.text(), long + "next\n");
    }

    #[test]
    fn a_failed_write_loses_nothing() {
        let sink = Sink::default();
        let w = LogWriter::new(sink.clone(), false);
        line(&w, Level::INFO, "kept\n");
        sink.failing.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(w.flush().is_err());
        line(&w, Level::WARN, "also kept\n");
        sink.failing.store(false, std::sync::atomic::Ordering::SeqCst);
        w.flush().unwrap();
        assert_eq!(sink.text(), "kept\nalso kept\n");
    }

    #[test]
    fn the_flush_thread_writes_out_and_ends_with_the_writer() {
        let sink = Sink::default();
        let w = LogWriter::start(sink.clone(), Duration::from_millis(1)).unwrap();
        let weak = Arc::downgrade(&w.shared);
        line(&w, Level::INFO, "a\n");
        drop(w);
        // The thread holds the buffer only while flushing; once it sees
        // the writer gone it exits, and the buffer is freed.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while weak.upgrade().is_some() {
            assert!(std::time::Instant::now() < deadline, "the flush thread kept the writer alive");
            std::thread::yield_now();
        }
        // The last holder wrote out what was left.
        assert_eq!(sink.text(), "a\n");
    }

    #[test]
    fn the_flush_thread_writes_out_a_batch_unasked() {
        let sink = Sink::default();
        let w = LogWriter::start(sink.clone(), Duration::from_millis(1)).unwrap();
        line(&w, Level::INFO, "a\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.text().is_empty() {
            assert!(std::time::Instant::now() < deadline, "nothing was flushed");
            std::thread::yield_now();
        }
        assert_eq!(sink.text(), "a\n");
        drop(w);
    }
}
