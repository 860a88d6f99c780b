//! A one-value channel from the writer thread to the future awaiting an
//! acknowledgement, with no async runtime behind it: a `std::sync::Mutex`
//! around the value and the waker of the task waiting for it.
//!
//! The lock is held only to move a value or a waker in or out, never across
//! an `.await`.
//!
//! The writer thread acknowledges a whole batch at once, and waking each
//! waiting task from that thread is costly where the runtime shares its
//! core: each wake of an idle runtime worker is a system call that lets the
//! worker preempt the writer, run one task and park again, then the next
//! wake does the same (perf put a twelfth of the server's CPU there on an
//! issuance benchmark). So [`wake_all`] wakes one task itself and hands the
//! other wakers to it: that task's receiver wakes them when it is polled
//! (or dropped), from inside the runtime, where a wake is a push onto the
//! worker's own queue.

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
    /// Other tasks of the same batch, for this receiver to wake once it has
    /// its value (or is dropped); see [`wake_all`].
    relay: Vec<Waker>,
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while the lock is held cannot leave `State` half-updated:
    // every critical section is a plain field move.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer thread's end: sends one value ([`Sender::send_parked`]), or
/// closes on drop.
pub(crate) struct Sender<T>(Shared<T>);

/// The awaiting end: a future of the sent value. If the sender is dropped
/// without sending (the writer thread stopped, or a request was discarded
/// after a panic), it resolves to a backend error: fail closed, never a
/// made-up answer.
pub(crate) struct Receiver<T>(Shared<T>);

/// A connected pair.
pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State { value: None, waker: None, closed: false, relay: Vec::new() }));
    (Sender(shared.clone()), Receiver(shared))
}

impl<T: Send + 'static> Sender<T> {
    /// Delivers `value` without waking the receiver's task: returns that
    /// task's waker (with a way to reach the receiver) when one is waiting,
    /// for [`wake_all`].
    pub(crate) fn send_parked(self, value: T) -> Option<Parked> {
        let waker = {
            let mut s = lock(&self.0);
            s.value = Some(value);
            s.waker.take()
        };
        let slot: Arc<dyn RelaySlot> = self.0.clone();
        waker.map(|waker| Parked { waker, slot })
        // `Drop` marks it closed; the waker is no longer there to wake.
    }
}

/// A receiver that has its value and whose task waits to be woken.
pub(crate) struct Parked {
    waker: Waker,
    slot: Arc<dyn RelaySlot>,
}

/// A receiver's state, whatever its value type.
trait RelaySlot: Send + Sync {
    /// Leaves `others` for the receiver to wake, if it has not taken its
    /// value yet (so it will, or be dropped); otherwise hands them back.
    fn carry(&self, others: Vec<Waker>) -> Result<(), Vec<Waker>>;
}

impl<T: Send> RelaySlot for Mutex<State<T>> {
    fn carry(&self, others: Vec<Waker>) -> Result<(), Vec<Waker>> {
        let mut s = lock(self);
        if s.value.is_some() {
            s.relay.extend(others);
            Ok(())
        } else {
            Err(others)
        }
    }
}

/// Wakes the tasks of `parked`: the first directly, the others through the
/// first's receiver, which wakes them as soon as its task polls it (or
/// drops it). If that receiver already took its value (its task polled it
/// before this call), the others are woken here.
pub(crate) fn wake_all(parked: Vec<Parked>) {
    let mut parked = parked.into_iter();
    let Some(first) = parked.next() else { return };
    let others: Vec<Waker> = parked.map(|p| p.waker).collect();
    let direct = if others.is_empty() { Ok(()) } else { first.slot.carry(others) };
    first.waker.wake();
    if let Err(others) = direct {
        others.into_iter().for_each(Waker::wake);
    }
}

/// Wakes the tasks a receiver was left to wake.
fn wake_relay(relay: Vec<Waker>) {
    relay.into_iter().for_each(Waker::wake);
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // A dropped receiver still wakes the tasks it carries.
        let relay = std::mem::take(&mut lock(&self.0).relay);
        wake_relay(relay);
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
            let relay = std::mem::take(&mut s.relay);
            drop(s);
            // Woken outside the lock: each is another task's.
            wake_relay(relay);
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

    fn send(tx: Sender<Result<u32, StoreError>>, value: u32) {
        wake_all(tx.send_parked(Ok(value)).into_iter().collect());
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counted() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    fn wakes(c: &Count) -> usize {
        c.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    type Ack = Pin<Box<Receiver<Result<u32, StoreError>>>>;
    type Batch = (Vec<Ack>, Vec<Arc<Count>>, Vec<Parked>);

    /// Three receivers polled once each (so waiting), then sent their
    /// values as one batch.
    fn batch_of_three() -> Batch {
        let (mut rxs, mut counts, mut parked) = (Vec::new(), Vec::new(), Vec::new());
        for v in 0..3 {
            let (tx, rx) = channel::<Result<u32, StoreError>>();
            let mut rx = Box::pin(rx);
            let (count, waker) = counted();
            assert!(rx.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
            parked.extend(tx.send_parked(Ok(v)));
            rxs.push(rx);
            counts.push(count);
        }
        (rxs, counts, parked)
    }

    #[test]
    fn a_batch_wakes_one_task_which_wakes_the_others_when_polled() {
        let (mut rxs, counts, parked) = batch_of_three();
        assert_eq!(parked.len(), 3);
        wake_all(parked);
        assert_eq!(counts.iter().map(|c| wakes(c)).collect::<Vec<_>>(), vec![1, 0, 0]);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(rxs[0].as_mut().poll(&mut cx), Poll::Ready(Ok(0))));
        assert_eq!(counts.iter().map(|c| wakes(c)).collect::<Vec<_>>(), vec![1, 1, 1]);
        assert!(matches!(rxs[2].as_mut().poll(&mut cx), Poll::Ready(Ok(2))));
    }

    #[test]
    fn a_dropped_first_receiver_still_wakes_the_others() {
        let (mut rxs, counts, parked) = batch_of_three();
        wake_all(parked);
        drop(rxs.remove(0));
        assert_eq!(counts.iter().map(|c| wakes(c)).collect::<Vec<_>>(), vec![1, 1, 1]);
    }

    #[test]
    fn a_first_receiver_done_before_the_wake_leaves_the_others_to_the_writer() {
        let (mut rxs, counts, parked) = batch_of_three();
        // Its task polled it between the send and the wake.
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(rxs[0].as_mut().poll(&mut cx), Poll::Ready(Ok(0))));
        wake_all(parked);
        assert_eq!(counts.iter().map(|c| wakes(c)).collect::<Vec<_>>(), vec![1, 1, 1]);
    }

    #[test]
    fn a_value_sent_from_another_thread_is_received() {
        let (tx, rx) = channel::<Result<u32, StoreError>>();
        let t = std::thread::spawn(move || send(tx, 7));
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
        send(tx, 1);
        assert!(matches!(rx.as_mut().poll(&mut cx), Poll::Ready(Ok(1))));
    }
}
