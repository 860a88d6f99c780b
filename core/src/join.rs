//! Running two futures concurrently without an async runtime.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Drives `a` and `b` concurrently and returns both outputs, polling `a`
/// first. When `a` finishes, before `b` was ever polled, with an output for
/// which `skip_b` holds, `b` is left unpolled and its output is `None`:
/// with backends that answer at once, work the caller will not use is never
/// started (the caller may still await `b` itself).
///
/// The futures are pinned by the caller, in its own state: taking them by
/// value made this future hold each of them twice (the moved-from argument
/// and the pinned copy), and every request moved those bytes around
/// (callgrind: a quarter of the introspection's `memcpy`).
pub(crate) fn both<'f, A: Future, B: Future>(
    mut a: Pin<&'f mut A>,
    mut b: Pin<&'f mut B>,
    skip_b: impl Fn(&A::Output) -> bool + 'f,
) -> impl Future<Output = (A::Output, Option<B::Output>)> + 'f {
    let mut out_a: Option<A::Output> = None;
    let mut out_b: Option<B::Output> = None;
    let mut b_started = false;
    poll_fn(move |cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                if !b_started && skip_b(&v) {
                    return Poll::Ready((v, None));
                }
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            b_started = true;
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                // Both done in one poll (a backend that answers at once):
                // straight out, not through `out_b`.
                if let Some(va) = out_a.take() {
                    return Poll::Ready((va, Some(v)));
                }
                out_b = Some(v);
            }
        }
        match (out_a.take(), &out_b) {
            (Some(v), Some(_)) => Poll::Ready((v, out_b.take())),
            (v, _) => {
                out_a = v;
                Poll::Pending
            }
        }
    })
}

/// Polls `f` once: its output if it is ready at once, `None` if it is
/// pending (then it can be polled again, or joined).
pub(crate) fn poll_once<F: Future>(mut f: Pin<&mut F>) -> impl Future<Output = Option<F::Output>> + '_ {
    poll_fn(move |cx| {
        Poll::Ready(match f.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::pin::pin;
    use std::task::{Context, Waker};

    fn ready<F: Future>(f: F) -> Option<F::Output> {
        match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }

    /// A future that is pending `n` times before it yields `v`.
    fn after<T: Copy + 'static>(n: usize, v: T, polled: &Cell<usize>) -> impl Future<Output = T> + '_ {
        let mut left = n;
        poll_fn(move |cx| {
            polled.set(polled.get() + 1);
            if left == 0 {
                Poll::Ready(v)
            } else {
                left -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    #[test]
    fn poll_once_gives_a_ready_output_and_leaves_a_pending_future_to_finish() {
        let polled = Cell::new(0);
        assert_eq!(ready(poll_once(pin!(after(0, 7, &polled)))), Some(Some(7)));
        let mut f = pin!(after(1, 8, &polled));
        assert_eq!(ready(poll_once(f.as_mut())), Some(None));
        assert_eq!(ready(f), Some(8));
        assert_eq!(polled.get(), 3);
    }

    #[test]
    fn both_outputs_when_not_skipped() {
        let (pa, pb) = (Cell::new(0), Cell::new(0));
        assert_eq!(
            ready(both(pin!(after(0, 1, &pa)), pin!(after(0, 2, &pb)), |_| false)),
            Some((1, Some(2)))
        );
        assert_eq!((pa.get(), pb.get()), (1, 1));
    }

    #[test]
    fn b_is_never_polled_when_a_says_skip_at_once() {
        let (pa, pb) = (Cell::new(0), Cell::new(0));
        assert_eq!(ready(both(pin!(after(0, 1, &pa)), pin!(after(0, 2, &pb)), |&a| a == 1)), Some((1, None)));
        assert_eq!(pb.get(), 0);
    }

    #[test]
    fn b_is_awaited_once_started_even_if_a_says_skip() {
        let (pa, pb) = (Cell::new(0), Cell::new(0));
        let (a, b) = (pin!(after(1, 1, &pa)), pin!(after(2, 2, &pb)));
        let f = both(a, b, |&a| a == 1);
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        assert_eq!(f.as_mut().poll(&mut cx), Poll::Ready((1, Some(2))));
        // Both were polled concurrently: three polls each, not five for b after a.
        assert_eq!((pa.get(), pb.get()), (2, 3));
    }
}
