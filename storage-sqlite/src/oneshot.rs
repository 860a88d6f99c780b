//! A one-value channel from the writer thread to the future awaiting an
//! acknowledgement, with no async runtime behind it: a `std::sync::Mutex`
//! around the value and the waker of the task waiting for it.
//!
//! The lock is held only to move a value or a waker in or out, never across
//! an `.await`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use gatehouse_core::StoreError;

use crate::error::SqliteError;

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The sender is gone (sent, or dropped without sending).
    closed: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while the lock is held cannot leave `State` half-updated:
    // every critical section is a plain field move.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer thread's end: sends one value, or closes on drop.
pub(crate) struct Sender<T>(Shared<T>);

/// The awaiting end: a future of the sent value. If the sender is dropped
/// without sending (the writer thread stopped, or a request was discarded
/// after a panic), it resolves to a backend error: fail closed, never a
/// made-up answer.
pub(crate) struct Receiver<T>(Shared<T>);

/// A connected pair.
pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State { value: None, waker: None, closed: false }));
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Delivers `value` and wakes the receiver's task.
    pub(crate) fn send(self, value: T) {
        let waker = {
            let mut s = lock(&self.0);
            s.value = Some(value);
            s.waker.take()
        };
        // Woken outside the lock: the woken task may poll at once.
        if let Some(w) = waker {
            w.wake();
        }
        // `Drop` marks it closed.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.0);
            s.closed = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<Result<T, StoreError>> {
    type Output = Result<T, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = lock(&self.0);
        if let Some(v) = s.value.take() {
            return Poll::Ready(v);
        }
        if s.closed {
            return Poll::Ready(Err(StoreError::backend(SqliteError::WriterStopped)));
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Wakes a thread parked in [`block_on`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a store future to completion on the calling thread, parking it
/// while the future is pending: reads are ready on their first poll,
/// writes once the writer thread has committed them. For synchronous code
/// (tools, tests, benches, [`SqliteStore::insert_batch`](crate::SqliteStore::insert_batch));
/// inside an async runtime, `.await` the future instead, since this blocks
/// the executor's thread until the commit.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        // A spurious wake-up only costs another poll.
        std::thread::park();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_value_sent_from_another_thread_is_received() {
        let (tx, rx) = channel::<Result<u32, StoreError>>();
        let t = std::thread::spawn(move || tx.send(Ok(7)));
        assert_eq!(block_on(rx).unwrap(), 7);
        t.join().unwrap();
    }

    #[test]
    fn a_sender_dropped_without_sending_is_a_backend_error() {
        let (tx, rx) = channel::<Result<u32, StoreError>>();
        let t = std::thread::spawn(move || drop(tx));
        assert!(matches!(block_on(rx), Err(StoreError::Backend(_))));
        t.join().unwrap();
    }

    #[test]
    fn pending_until_sent() {
        let (tx, rx) = channel::<Result<u32, StoreError>>();
        let mut rx = std::pin::pin!(rx);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(rx.as_mut().poll(&mut cx).is_pending());
        tx.send(Ok(1));
        assert!(matches!(rx.as_mut().poll(&mut cx), Poll::Ready(Ok(1))));
    }
}
