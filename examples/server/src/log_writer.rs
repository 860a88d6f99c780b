//! Where the example's log lines go: standard error, written in batches
//! by a background thread.
//!
//! At the default `info` level the audit trail has a line for every
//! request; writing each line with its own `write(2)` is a system call per
//! request, on the request's thread, and a write that stalls (the disk
//! flushing the log file, a slow pipe) stalls the request with it.
//! [`LogWriter`] appends each line to a buffer in memory and hands the
//! writing to its own thread, which writes the buffer out at least every
//! `flush_every`, and at once when it passes [`SOFT_LIMIT`]. A request's
//! thread writes only for a line of level `warn` or `error` (replays,
//! throttling and store failures reach the log at once, with everything
//! before them), and when the buffer reaches [`HARD_LIMIT`] because the
//! output cannot keep up: then it waits, as an unbuffered writer would, so
//! nothing is dropped while the output works. [`LogWriter::flush`] writes
//! out the rest; the server calls it when it stops.
//!
//! What a batch costs: a process killed without a chance to flush
//! (`SIGKILL`, an abort) loses the `info` lines of its last `flush_every`.
//! `flush_every` of zero writes every line at once, on the request's
//! thread. An output that fails keeps its lines for the next try, up to
//! [`HARD_LIMIT`]; beyond that, lines are dropped until it works again
//! (there is nowhere left to report them).
//!
//! Not `tracing-appender`'s non-blocking writer: it hands each line to a
//! writer thread through a channel, which on a busy single core wakes
//! (and switches to) that thread for almost every line: under `strace` it
//! made more system calls per request than this buffer does (futex
//! wake-ups and `sched_yield`s beside its writes).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Buffered lines past which the writer thread is woken to write them.
pub const SOFT_LIMIT: usize = 256 * 1024;

/// Buffered lines past which the thread adding a line writes the buffer
/// out itself (the output is not keeping up).
pub const HARD_LIMIT: usize = 4 * 1024 * 1024;

/// A `tracing-subscriber` writer that batches lines (see the module docs).
/// Clones share one buffer.
pub struct LogWriter<W: Write> {
    shared: Arc<Shared<W>>,
}

impl<W: Write> Clone for LogWriter<W> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<W: Write> std::fmt::Debug for LogWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter").field("buffered", &self.shared.pending().len()).finish_non_exhaustive()
    }
}

struct Shared<W: Write> {
    /// Lines not yet handed to the output. Held only to append or swap,
    /// never during I/O.
    pending: Mutex<Vec<u8>>,
    /// Wakes the writer thread early (the buffer passed `soft`).
    wake: Condvar,
    /// The output, and lines it failed to take. Held during I/O, and taken
    /// before `pending` so that batches go out in order.
    out: Mutex<Out<W>>,
    /// Every line is written at once (`flush_every` of zero).
    unbuffered: bool,
    soft: usize,
    hard: usize,
    /// How many times the writer thread began to wait (tests wait for it).
    #[cfg(test)]
    waits: std::sync::atomic::AtomicUsize,
}

struct Out<W> {
    w: W,
    /// Lines a failed write left behind, written first next time.
    failed: Vec<u8>,
    /// The buffer last written, kept to be swapped in (its allocation is
    /// reused).
    spare: Vec<u8>,
}

impl<W: Write> Shared<W> {
    fn pending(&self) -> MutexGuard<'_, Vec<u8>> {
        // Its bytes are whole lines or a line's prefix after a panic, both
        // worth writing.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes out every line buffered so far.
    fn flush(&self) -> io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let out = &mut *out;
        std::mem::swap(&mut *self.pending(), &mut out.spare);
        let mut result = Ok(());
        if !out.failed.is_empty() {
            result = out.w.write_all(&out.failed);
            if result.is_ok() {
                out.failed.clear();
            }
        }
        if result.is_ok() && !out.spare.is_empty() {
            result = out.w.write_all(&out.spare);
        }
        if result.is_err() && out.failed.len() + out.spare.len() <= self.hard {
            // Kept for the next try, in order; beyond the limit the batch
            // is dropped (module docs).
            out.failed.extend_from_slice(&out.spare);
        }
        out.spare.clear();
        result.and_then(|()| out.w.flush())
    }
}

impl<W: Write> Drop for Shared<W> {
    /// The last clone of the writer is gone: write out what is left.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<W: Write + Send + 'static> LogWriter<W> {
    /// A writer into `out`, with a background thread that writes out what
    /// is buffered every `flush_every` and whenever the buffer passes
    /// [`SOFT_LIMIT`] (none for zero: every line is written at once). The
    /// thread ends once the last clone of the writer is dropped.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start(out: W, flush_every: Duration) -> io::Result<Self> {
        Self::start_with_limits(out, flush_every, SOFT_LIMIT, HARD_LIMIT)
    }

    fn start_with_limits(out: W, flush_every: Duration, soft: usize, hard: usize) -> io::Result<Self> {
        let writer = Self::with_limits(out, flush_every.is_zero(), soft, hard);
        if !flush_every.is_zero() {
            let weak = Arc::downgrade(&writer.shared);
            std::thread::Builder::new()
                .name("gatehouse-log-writer".into())
                .spawn(move || write_out_until_dropped(&weak, flush_every))?;
        }
        Ok(writer)
    }
}

impl<W: Write> LogWriter<W> {
    /// A writer into `out` with no background thread: lines are written
    /// out at each `warn` or `error` line, at [`HARD_LIMIT`], and by
    /// [`flush`](Self::flush) (every line at once when `unbuffered`).
    pub fn new(out: W, unbuffered: bool) -> Self {
        Self::with_limits(out, unbuffered, SOFT_LIMIT, HARD_LIMIT)
    }

    fn with_limits(out: W, unbuffered: bool, soft: usize, hard: usize) -> Self {
        let out = Out { w: out, failed: Vec::new(), spare: Vec::new() };
        let shared = Shared {
            pending: Mutex::new(Vec::with_capacity(soft)),
            wake: Condvar::new(),
            out: Mutex::new(out),
            unbuffered,
            soft,
            hard,
            #[cfg(test)]
            waits: std::sync::atomic::AtomicUsize::new(0),
        };
        Self { shared: Arc::new(shared) }
    }

    /// Writes out every buffered line.
    ///
    /// # Errors
    /// The output's error; the lines stay buffered for the next try (up to
    /// [`HARD_LIMIT`]).
    pub fn flush(&self) -> io::Result<()> {
        self.shared.flush()
    }

    /// The writer for one line; `urgent` writes the buffer out after it.
    fn line(&self, urgent: bool) -> Line<'_, W> {
        Line { shared: &self.shared, pending: Some(self.shared.pending()), urgent }
    }
}

/// The writer thread: writes the buffer out every `period`, or sooner when
/// woken, until the writer is gone.
fn write_out_until_dropped<W: Write>(shared: &Weak<Shared<W>>, period: Duration) {
    loop {
        let Some(shared) = shared.upgrade() else { return };
        {
            let pending = shared.pending();
            if pending.len() < shared.soft {
                #[cfg(test)]
                shared.waits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Woken early, by a timeout or spuriously: all the same.
                drop(shared.wake.wait_timeout(pending, period));
            }
        }
        // Nothing to report an error to: the lines stay for the next try.
        let _ = shared.flush();
    }
}

/// One line being written, straight into the buffer (whose lock it holds,
/// so lines from several threads never mix; only for the copy).
pub struct Line<'a, W: Write> {
    shared: &'a Shared<W>,
    pending: Option<MutexGuard<'a, Vec<u8>>>,
    urgent: bool,
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Some(p) = &mut self.pending {
            p.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for Line<'_, W> {
    fn drop(&mut self) {
        // Released before any I/O: `flush` takes the output first.
        let len = self.pending.take().map_or(0, |p| p.len());
        let shared = self.shared;
        if self.urgent || shared.unbuffered || len >= shared.hard {
            let _ = shared.flush();
        } else if len >= shared.soft {
            shared.wake.notify_one();
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
    fn at_the_hard_limit_the_adding_thread_writes_the_buffer_out() {
        let sink = Sink::default();
        let w = LogWriter::with_limits(sink.clone(), false, 8, 16);
        line(&w, Level::INFO, "0123456789\n");
        assert_eq!(sink.text(), "", "past soft, below hard: left to the writer thread");
        line(&w, Level::INFO, "abcdef\n");
        assert_eq!(sink.text(), "0123456789\nabcdef\n");
    }

    /// An output that blocks inside `write` until released, and says when
    /// a write has begun.
    #[derive(Clone)]
    struct Stalled {
        inner: Sink,
        began: std::sync::mpsc::SyncSender<()>,
        gate: Arc<Mutex<()>>,
    }

    impl Write for Stalled {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let _ = self.began.try_send(());
            let _open = self.gate.lock().unwrap();
            self.inner.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Past the soft limit the writer thread is woken (long before its
    /// period), and while its write is stalled, lines keep being added
    /// without waiting for it.
    #[test]
    fn the_writer_thread_writes_past_the_soft_limit_and_a_stall_holds_up_no_line() {
        let sink = Sink::default();
        let (began, has_begun) = std::sync::mpsc::sync_channel(8);
        let gate = Arc::new(Mutex::new(()));
        let closed = gate.lock().unwrap();
        let out = Stalled { inner: sink.clone(), began, gate: Arc::clone(&gate) };
        let w = LogWriter::start_with_limits(out, Duration::from_secs(3600), 8, 1 << 20).unwrap();
        // Once the thread counts a wait it holds the buffer's lock until
        // the wait releases it: the line below comes while it waits.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while w.shared.waits.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "the writer thread never waited");
            std::thread::yield_now();
        }
        line_of(&w, "0123456789\n");
        has_begun.recv_timeout(Duration::from_secs(10)).expect("the writer thread was not woken");
        // Its write is stalled; adding lines must not wait for it.
        let (done, finished) = std::sync::mpsc::channel();
        let w2 = w.clone();
        std::thread::spawn(move || {
            for _ in 0..100 {
                line_of(&w2, "more\n");
            }
            let _ = done.send(());
        });
        finished.recv_timeout(Duration::from_secs(10)).expect("adding a line waited for a stalled write");
        drop(closed);
        w.flush().unwrap();
        assert_eq!(sink.text(), "0123456789\n".to_owned() + &"more\n".repeat(100));
    }

    fn line_of(w: &LogWriter<Stalled>, text: &str) {
        w.line(false).write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_failing_output_keeps_no_more_than_the_hard_limit() {
        let sink = Sink::default();
        let w = LogWriter::with_limits(sink.clone(), false, 4, 8);
        sink.failing.store(true, std::sync::atomic::Ordering::SeqCst);
        line(&w, Level::WARN, "1234\n");
        line(&w, Level::WARN, "5678\n");
        sink.failing.store(false, std::sync::atomic::Ordering::SeqCst);
        line(&w, Level::WARN, "ok\n");
        assert_eq!(sink.text(), "1234\nok\n", "the batch past the limit is dropped, the rest kept in order");
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
        // The thread holds the writer only while waiting or writing; once
        // it sees the writer gone it exits, and the buffer is freed.
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
