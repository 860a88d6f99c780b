//! The writer thread: group commit.
//!
//! With `synchronous = FULL` every commit waits for an `fsync` of the WAL,
//! which takes far longer than the statements it makes durable. So every
//! write of this store is a request queued to one thread that owns the
//! writer connection. The thread takes all requests waiting (up to
//! [`MAX_BATCH`]), applies them in one `BEGIN IMMEDIATE` transaction, each
//! inside its own `SAVEPOINT`, commits once, and only then acknowledges
//! each request. Requests that arrive during a commit wait for the next
//! one, so under load one `fsync` covers many writes; alone, a write is
//! committed at once (there is no waiting for company). Before taking a
//! batch the thread yields its CPU while that lets more requests in
//! ([`gather`]): where the async runtime shares its core, the batch then
//! holds the writes the runtime was still preparing, not just the first.
//!
//! - A request whose statements fail (a `Conflict` on insert, a corrupt
//!   record) is rolled back to its savepoint and fails alone. A request
//!   made of one data-changing statement ([`Writer::submit_statement`]:
//!   an issued token's insert, a revocation) gets no savepoint: SQLite
//!   already backs out a failed statement alone (its statement journal),
//!   while opening a savepoint, copying each page it first touches into
//!   the savepoint's journal and releasing it cost the writer thread about
//!   6% of its time per issued token (README, *Group commit*).
//! - A transaction that cannot begin or commit fails every request in it
//!   with [`SqliteError::Transaction`]; nothing of it is stored. When only
//!   another process's lock stopped it (past the busy timeout), that is
//!   `StoreError::Unavailable` (retry later), otherwise `Backend`.
//! - Each request sees the writes queued before it (same connection, same
//!   transaction), so the order of the queue is the order of the writes,
//!   and `BEGIN IMMEDIATE` orders the batches with other processes'
//!   writes: every atomicity argument of one write per transaction still
//!   holds.
//!
//! The thread ends when the last [`Writer`] handle is dropped: it finishes
//! the requests already queued, closes the connection, and the drop waits
//! for it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use gatehouse_core::StoreError;
use rusqlite::Connection;

use crate::error::SqliteError;
use crate::oneshot::{self, Parked, Receiver, Sender};

/// Most requests in one transaction: bounds how long the first waits for
/// the last to be applied before its commit.
pub(crate) const MAX_BATCH: usize = 256;

/// How many times the writer gives up its CPU before taking a batch, as
/// long as each time lets more requests arrive (see [`gather`]).
const MAX_YIELDS: usize = 4;

/// How a batch ended, shared by all its requests.
type BatchOutcome = Result<(), Arc<SqliteError>>;

/// One queued write.
trait Job: Send {
    /// Runs the request's statements inside the open transaction and keeps
    /// their result. Returns whether they succeeded.
    fn apply(&mut self, conn: &Connection) -> bool;

    /// Whether the request needs a savepoint of its own to fail alone.
    fn needs_savepoint(&self) -> bool;

    /// Delivers the acknowledgement once the batch's fate is known, and
    /// returns the waiting task's waker instead of waking it (the thread
    /// wakes a batch's tasks together: `oneshot::wake_all`).
    fn finish(self: Box<Self>, batch: &BatchOutcome) -> Option<Parked>;
}

struct Request<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: Sender<Result<T, StoreError>>,
    /// False only for [`Writer::submit_statement`]'s requests.
    savepoint: bool,
}

impl<T, F> Job for Request<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let result = match self.work.take() {
            Some(work) => work(conn),
            // Applied twice: a bug, never a silent success.
            None => Err(StoreError::backend(SqliteError::WriterStopped)),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn needs_savepoint(&self) -> bool {
        self.savepoint
    }

    fn finish(self: Box<Self>, batch: &BatchOutcome) -> Option<Parked> {
        let Self { result, reply, .. } = *self;
        let out = match (batch, result) {
            (Ok(()), Some(result)) => result,
            // Its own failure changed nothing, and still holds.
            (Err(_), Some(Err(own))) => Err(own),
            (Err(e), _) => Err(crate::error::batch_error(e)),
            (Ok(()), None) => Err(StoreError::backend(SqliteError::WriterStopped)),
        };
        reply.send_parked(out)
    }
}

/// A handle on the writer thread; dropping it stops the thread once the
/// queued requests are done.
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    /// Requests ever queued: the thread reads it to see whether more
    /// arrived while it yielded.
    submitted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Moves `conn` to a new writer thread.
    pub(crate) fn start(conn: Connection, path: &Path) -> Result<Self, SqliteError> {
        let (queue, requests) = mpsc::channel::<Box<dyn Job>>();
        let submitted = Arc::new(AtomicU64::new(0));
        let seen = submitted.clone();
        let thread = std::thread::Builder::new()
            .name("gatehouse-sqlite-writer".into())
            .spawn(move || serve(&conn, &requests, &seen))
            .map_err(|source| SqliteError::WriterThread { path: path.to_owned(), source })?;
        Ok(Self { queue: Some(queue), submitted, thread: Some(thread) })
    }

    /// Queues `work` to run in the writer's next transaction. The returned
    /// future resolves once that transaction has committed (or failed).
    /// Queuing is a channel send: it never waits for the disk.
    pub(crate) fn submit<T, F>(&self, work: F) -> Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue(work, true)
    }

    /// Like [`submit`](Self::submit), for `work` that runs at most one
    /// statement that changes the database and fails only when that
    /// statement failed or changed nothing. It runs without a savepoint of
    /// its own: SQLite backs out a failed statement alone (with its
    /// statement journal when it could fail halfway, triggers included),
    /// and an error that undoes the whole transaction fails the batch as
    /// for any request. Work that writes twice, or fails after a write
    /// succeeded, must use `submit`: its first write would stay.
    pub(crate) fn submit_statement<T, F>(&self, work: F) -> Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue(work, false)
    }

    fn queue<T, F>(&self, work: F, savepoint: bool) -> Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, ack) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Request { work: Some(work), result: None, reply, savepoint });
        // A failed send hands the job back and it is dropped here, which
        // closes its reply: the future resolves to `WriterStopped`.
        if let Some(queue) = &self.queue {
            // Counted before the send, so the thread never takes a request
            // it has not seen counted.
            self.submitted.fetch_add(1, Ordering::Relaxed);
            let _ = queue.send(job);
        }
        ack
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop after the queued work.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // A panic there was already turned into errors for its callers.
            let _ = thread.join();
        }
    }
}

/// The thread's loop: one batch per turn until the queue is closed.
fn serve(conn: &Connection, requests: &mpsc::Receiver<Box<dyn Job>>, submitted: &AtomicU64) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = requests.recv() {
        batch.push(first);
        gather(requests, submitted, &mut batch);
        match catch_unwind(AssertUnwindSafe(|| apply_batch(conn, &mut batch))) {
            Ok(outcome) => {
                let parked = batch.drain(..).filter_map(|job| job.finish(&outcome)).collect();
                oneshot::wake_all(parked);
            }
            Err(_) => {
                // Nothing of the batch was committed (a panic cannot
                // happen after COMMIT returned). Dropping its requests
                // closes their replies: each gets `WriterStopped`.
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                batch.clear();
            }
        }
    }
}

/// Adds to `batch` the requests queued behind its first one.
///
/// Before taking them, the thread yields its CPU (`sched_yield`), again
/// while each yield let more requests in, at most [`MAX_YIELDS`] times.
/// Where the threads that queue writes share a core with this one (a
/// server pinned to one core, or a busy machine), the first request
/// usually wakes the writer while they are still turning their clients'
/// requests into writes; yielding lets them finish, so one commit (one
/// `fsync`, one round of WAL frames) holds those writes too instead of
/// the next. When no other thread is ready to run on this core, a yield
/// returns at once: a lone write still waits for nothing. Measured on the
/// example server (README, *Group commit*): larger batches, less writer
/// CPU per write.
fn gather(requests: &mpsc::Receiver<Box<dyn Job>>, submitted: &AtomicU64, batch: &mut Vec<Box<dyn Job>>) {
    let mut seen = submitted.load(Ordering::Relaxed);
    for _ in 0..MAX_YIELDS {
        std::thread::yield_now();
        let now = submitted.load(Ordering::Relaxed);
        if now == seen {
            break;
        }
        seen = now;
    }
    while batch.len() < MAX_BATCH {
        match requests.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn failed(source: rusqlite::Error) -> Arc<SqliteError> {
    Arc::new(SqliteError::Transaction { source })
}

/// Applies every request of `batch` in one transaction and commits it.
fn apply_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> BatchOutcome {
    run(conn, "BEGIN IMMEDIATE").map_err(failed)?;
    let outcome = apply_all(conn, batch).and_then(|()| run(conn, "COMMIT").map_err(failed));
    if outcome.is_err() && !conn.is_autocommit() {
        // Nothing of the batch may stay behind for the next one.
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

fn apply_all(conn: &Connection, batch: &mut [Box<dyn Job>]) -> BatchOutcome {
    for job in batch.iter_mut() {
        let savepoint = job.needs_savepoint();
        if savepoint {
            run(conn, "SAVEPOINT request").map_err(failed)?;
        }
        let ok = job.apply(conn);
        if conn.is_autocommit() {
            // Some errors (I/O, disk full) make SQLite roll back the whole
            // transaction: the requests before this one are gone too.
            return Err(Arc::new(SqliteError::RolledBack));
        }
        if !savepoint {
            continue;
        }
        if !ok {
            run(conn, "ROLLBACK TO request").map_err(failed)?;
        }
        run(conn, "RELEASE request").map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::oneshot::block_on;

    /// A connection with a table `t` whose `parent` column is checked
    /// only at COMMIT (a deferred foreign key), so a test can make the
    /// commit itself fail.
    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE t (k INTEGER PRIMARY KEY,
                             parent INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        c
    }

    fn insert(k: i64, parent: Option<i64>) -> impl FnOnce(&Connection) -> Result<(), StoreError> + Send {
        move |c| {
            let n = c
                .execute("INSERT INTO t (k, parent) VALUES (?1, ?2) ON CONFLICT DO NOTHING", (k, parent))
                .map_err(StoreError::backend)?;
            if n == 0 {
                return Err(StoreError::Conflict);
            }
            Ok(())
        }
    }

    type Work = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

    /// Queues the requests as one batch, applies and acknowledges it.
    fn batch(c: &Connection, work: Vec<Work>) -> Vec<Result<(), StoreError>> {
        batch_of(c, work.into_iter().map(|w| (true, w)).collect())
    }

    /// Like `batch`, saying for each request whether it gets a savepoint.
    fn batch_of(c: &Connection, work: Vec<(bool, Work)>) -> Vec<Result<(), StoreError>> {
        let mut jobs: Vec<Box<dyn Job>> = Vec::new();
        let mut acks = Vec::new();
        for (savepoint, w) in work {
            let (reply, ack) = oneshot::channel();
            jobs.push(Box::new(Request { work: Some(w), result: None, reply, savepoint }));
            acks.push(ack);
        }
        let outcome = apply_batch(c, &mut jobs);
        oneshot::wake_all(jobs.into_iter().filter_map(|job| job.finish(&outcome)).collect());
        acks.into_iter().map(block_on).collect()
    }

    fn keys(c: &Connection) -> Vec<i64> {
        let mut st = c.prepare("SELECT k FROM t ORDER BY k").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_failed_request_fails_alone_and_its_changes_are_undone() {
        let c = conn();
        c.execute("INSERT INTO t (k) VALUES (2)", []).unwrap();
        let out = batch(
            &c,
            vec![
                Box::new(insert(1, None)),
                // Writes a row, then fails: the row must not stay.
                Box::new(|c: &Connection| {
                    insert(3, None)(c)?;
                    insert(2, None)(c)
                }),
                Box::new(insert(4, None)),
            ],
        );
        assert!(out[0].is_ok() && out[2].is_ok(), "{out:?}");
        assert!(matches!(out[1], Err(StoreError::Conflict)), "{out:?}");
        assert_eq!(keys(&c), vec![1, 2, 4]);
        assert!(c.is_autocommit());
    }

    /// Whether the request runs inside the writer's savepoint: releasing
    /// it by name fails when there is none.
    fn in_savepoint(c: &Connection) -> bool {
        c.execute_batch("SAVEPOINT probe").unwrap();
        let inside = c.execute_batch("RELEASE request").is_ok();
        if !inside {
            c.execute_batch("RELEASE probe").unwrap();
        }
        inside
    }

    #[test]
    fn a_one_statement_request_runs_without_a_savepoint_and_still_fails_alone() {
        let c = conn();
        c.execute("INSERT INTO t (k) VALUES (2)", []).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let probe = |seen: &Arc<std::sync::Mutex<Vec<bool>>>, savepoint: bool| -> (bool, Work) {
            let seen = seen.clone();
            (
                savepoint,
                Box::new(move |c: &Connection| {
                    let inside = in_savepoint(c);
                    seen.lock().unwrap().push(inside);
                    if inside {
                        // The probe released the request's savepoint: open
                        // it again for the writer's own RELEASE.
                        c.execute_batch("SAVEPOINT request").map_err(StoreError::backend)?;
                    }
                    Ok(())
                }),
            )
        };
        let out = batch_of(
            &c,
            vec![
                (false, Box::new(insert(1, None))),
                // One statement that fails halfway: its first row (10) is
                // written before the second (2) conflicts. SQLite backs the
                // statement out alone.
                (
                    false,
                    Box::new(|c: &Connection| {
                        c.execute("INSERT INTO t (k) VALUES (10), (2)", []).map_err(StoreError::backend)?;
                        Ok(())
                    }),
                ),
                (false, Box::new(insert(2, None))),
                (false, Box::new(insert(4, None))),
                probe(&seen, false),
                probe(&seen, true),
            ],
        );
        assert!(out[0].is_ok() && out[3].is_ok() && out[4].is_ok() && out[5].is_ok(), "{out:?}");
        assert!(matches!(out[1], Err(StoreError::Backend(_))), "{out:?}");
        assert!(matches!(out[2], Err(StoreError::Conflict)), "{out:?}");
        assert_eq!(keys(&c), vec![1, 2, 4]);
        assert_eq!(*seen.lock().unwrap(), vec![false, true]);
        assert!(c.is_autocommit());
    }

    #[test]
    fn gather_takes_the_queued_requests_in_order_up_to_the_batch_limit() {
        let c = conn();
        let (queue, requests) = mpsc::channel::<Box<dyn Job>>();
        let submitted = AtomicU64::new(0);
        let total = MAX_BATCH + 10;
        let mut acks = Vec::new();
        for k in 0..total {
            let (reply, ack) = oneshot::channel();
            let work: Work = Box::new(insert(i64::try_from(k).unwrap(), None));
            submitted.fetch_add(1, Ordering::Relaxed);
            queue
                .send(Box::new(Request { work: Some(work), result: None, reply, savepoint: false }))
                .unwrap();
            acks.push(ack);
        }
        let mut sizes = Vec::new();
        for _ in 0..2 {
            let mut batch = vec![requests.recv().unwrap()];
            gather(&requests, &submitted, &mut batch);
            sizes.push(batch.len());
            let outcome = apply_batch(&c, &mut batch);
            oneshot::wake_all(batch.into_iter().filter_map(|job| job.finish(&outcome)).collect());
        }
        assert_eq!(sizes, vec![MAX_BATCH, 10]);
        assert!(acks.into_iter().map(block_on).all(|r| r.is_ok()));
        let max = i64::try_from(total).unwrap();
        assert_eq!(keys(&c), (0..max).collect::<Vec<_>>());
    }

    #[test]
    fn a_failed_commit_fails_every_request_of_the_batch() {
        let c = conn();
        let out = batch(
            &c,
            vec![
                Box::new(insert(1, None)),
                // Violates the deferred foreign key: COMMIT fails.
                Box::new(insert(2, Some(99))),
                Box::new(insert(3, None)),
            ],
        );
        for r in &out {
            match r {
                Err(StoreError::Backend(e)) => {
                    assert!(e.to_string().contains("write transaction failed"), "{e}");
                }
                other => panic!("expected a backend error, got {other:?}"),
            }
        }
        assert_eq!(keys(&c), Vec::<i64>::new());
        assert!(c.is_autocommit());
        // The next batch starts clean.
        assert!(batch(&c, vec![Box::new(insert(5, None))])[0].is_ok());
        assert_eq!(keys(&c), vec![5]);
    }

    #[test]
    fn a_panicking_request_fails_its_batch_and_the_writer_goes_on() {
        let dir = std::env::temp_dir().join(format!("gatehouse-writer-panic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.db");
        let setup = Connection::open(&path).unwrap();
        setup.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, parent INTEGER)").unwrap();
        let writer = Writer::start(Connection::open(&path).unwrap(), &path).unwrap();
        let panicked = writer.submit(|_: &Connection| -> Result<(), StoreError> { panic!("test panic") });
        assert!(matches!(block_on(panicked), Err(StoreError::Backend(_))));
        block_on(writer.submit(insert(1, None))).unwrap();
        drop(writer);
        assert_eq!(keys(&setup), vec![1]);
        drop(setup);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dropping_the_last_handle_commits_what_was_queued() {
        let dir = std::env::temp_dir().join(format!("gatehouse-writer-drop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.db");
        let setup = Connection::open(&path).unwrap();
        setup.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, parent INTEGER)").unwrap();
        let writer = Writer::start(Connection::open(&path).unwrap(), &path).unwrap();
        // Queued, and their futures dropped unawaited: the writes still
        // happen, and the drop of the writer waits for them.
        let acks: Vec<_> = (0..50).map(|k| writer.submit(insert(k, None))).collect();
        drop(acks);
        drop(writer);
        assert_eq!(keys(&setup), (0..50).collect::<Vec<_>>());
        drop(setup);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
