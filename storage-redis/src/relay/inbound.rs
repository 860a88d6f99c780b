//! What a relay makes of each message it hears: a pure decision over the
//! subscription's state, the message and `now` (no I/O, no clock of its
//! own), so every rule is tested without Redis.
//!
//! The rule it enforces: an event this instance did not see must not go
//! unnoticed. Each sender numbers its events 1, 2, 3, …, and its
//! heartbeats repeat its last number, so a missing number shows as a gap
//! at the sender's next event or heartbeat at the latest (one heartbeat
//! interval). A gap, a message that cannot be read, or a subscription
//! that was down means a reset of the local feed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gatehouse_core::FeedEvent;

use super::message::{Body, Message};

/// The subscription's state, shared by the connection's push handler and
/// the relay's task (under a short lock, never across an `.await`).
#[derive(Debug)]
pub(crate) struct Inbound {
    /// This instance's id: its own messages come back and are not applied.
    origin: String,
    /// The subscription whose messages count; pushes of older ones are
    /// ignored.
    generation: u64,
    /// The highest generation known to be lost (it may never go live).
    lost: u64,
    live: bool,
    /// Other senders heard since the subscription began: their last number.
    senders: HashMap<String, Sender>,
    /// Until then, a sender first heard with a number past 1 may be one
    /// that was running before we subscribed (see [`Inbound::up`]).
    settle_until: Option<Instant>,
    /// A sender was first heard in the settling window with a number past
    /// 1: a reset is owed at its end.
    settle_owed: bool,
    /// When this instance last heard its own heartbeat through the
    /// subscription: the proof that the whole path works.
    last_echo: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Sender {
    last: u64,
    heard: Instant,
}

/// What to do with one message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Step {
    /// Reset the local feed first: something may have been missed.
    pub(crate) reset: bool,
    /// Then append this (another instance's event).
    pub(crate) event: Option<FeedEvent>,
    /// It was this instance's own event, already in its feed.
    pub(crate) echo: bool,
}

impl Inbound {
    pub(crate) fn new(origin: String, now: Instant) -> Self {
        Self {
            origin,
            generation: 0,
            lost: 0,
            live: false,
            senders: HashMap::new(),
            settle_until: None,
            settle_owed: false,
            last_echo: now,
        }
    }

    pub(crate) fn live(&self) -> bool {
        self.live
    }

    /// The subscription of `generation` is confirmed: messages published
    /// from now on reach us. The caller resets the feed (anything before
    /// is unknown). A sender first heard within `settle` with a number
    /// past 1 may have been running before (nothing missed) or may have
    /// had a message lost on its way since (a Redis Cluster bus link):
    /// there is no telling, so one more reset is owed when the window
    /// ends. `settle` should cover every sender's next heartbeat. False
    /// (and nothing changes) when that subscription was already lost.
    pub(crate) fn up(&mut self, generation: u64, now: Instant, settle: Duration) -> bool {
        if self.lost >= generation {
            return false;
        }
        self.generation = generation;
        self.live = true;
        self.senders.clear();
        self.settle_until = Some(now + settle);
        self.settle_owed = false;
        self.last_echo = now;
        true
    }

    /// The subscription of `generation` is lost. True when it was the live
    /// one: the caller resets the feed (messages published from now on
    /// are missed until the next [`up`](Self::up), which resets again).
    pub(crate) fn lose(&mut self, generation: u64) -> bool {
        self.lost = self.lost.max(generation);
        let was = self.live && self.generation == generation;
        if was {
            self.live = false;
            self.settle_until = None;
        }
        was
    }

    /// Whether the live subscription has not carried our own heartbeat
    /// for longer than `limit`: it is silently broken (a hung server, a
    /// dead link) and must be replaced.
    pub(crate) fn stale(&self, now: Instant, limit: Duration) -> bool {
        self.live && now.saturating_duration_since(self.last_echo) > limit
    }

    /// Ends the settling window when its time has come, and forgets the
    /// senders not heard for `silent` (each says something every heartbeat
    /// interval). True when either owes a reset: a sender that went silent
    /// without saying goodbye (crashed, cut off) may have failed to publish
    /// its last events, and nobody will tell us.
    pub(crate) fn tick(&mut self, now: Instant, silent: Duration) -> bool {
        if !self.live {
            return false;
        }
        let before = self.senders.len();
        self.senders.retain(|_, s| now.saturating_duration_since(s.heard) <= silent);
        let gone = self.senders.len() < before;
        let owed = match self.settle_until {
            Some(t) if now >= t => {
                self.settle_until = None;
                std::mem::take(&mut self.settle_owed)
            }
            _ => false,
        };
        gone || owed
    }

    /// One message pushed by the subscription of `generation` (`None`:
    /// not a message this version can read).
    pub(crate) fn on_message(&mut self, generation: u64, msg: Option<Message>, now: Instant) -> Step {
        if !self.live || generation != self.generation {
            return Step::default();
        }
        let Some(msg) = msg else {
            return Step { reset: true, ..Step::default() };
        };
        if msg.origin == self.origin {
            let echo = match msg.body {
                Body::Heartbeat => {
                    self.last_echo = now;
                    false
                }
                Body::Bye => false,
                Body::Event(_) => true,
            };
            return Step { echo, ..Step::default() };
        }
        let settling = self.settle_until.is_some();
        let known = self.senders.get(&msg.origin).map(|s| s.last);
        let reset = match (known, &msg.body) {
            (Some(last), Body::Event(_)) => msg.n != last + 1,
            (Some(last), Body::Heartbeat | Body::Bye) => msg.n != last,
            // First heard: nothing missed if this is its first event, or a
            // heartbeat or goodbye before its first event.
            (None, Body::Event(_)) if msg.n == 1 => false,
            (None, Body::Heartbeat | Body::Bye) if msg.n == 0 => false,
            (None, _) if settling => {
                self.settle_owed = true;
                false
            }
            (None, _) => true,
        };
        let event = match msg.body {
            Body::Event(e) => Some(e),
            Body::Heartbeat => None,
            Body::Bye => {
                self.senders.remove(&msg.origin);
                return Step { reset, event: None, echo: false };
            }
        };
        let last = known.map_or(msg.n, |l| l.max(msg.n));
        self.senders.insert(msg.origin, Sender { last, heard: now });
        Step { reset, event, echo: false }
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::model::ClientId;

    use super::*;

    const SETTLE: Duration = Duration::from_secs(2);

    fn event(origin: &str, n: u64) -> Option<Message> {
        let e = FeedEvent::Client(ClientId::new("app").unwrap());
        Some(Message { origin: origin.into(), n, body: Body::Event(e) })
    }

    fn beat(origin: &str, n: u64) -> Option<Message> {
        Some(Message { origin: origin.into(), n, body: Body::Heartbeat })
    }

    fn bye(origin: &str, n: u64) -> Option<Message> {
        Some(Message { origin: origin.into(), n, body: Body::Bye })
    }

    fn live(t0: Instant) -> Inbound {
        let mut i = Inbound::new("me".into(), t0);
        assert!(i.up(1, t0, SETTLE));
        i
    }

    #[test]
    fn consecutive_numbers_are_applied_and_a_gap_resets() {
        let t0 = Instant::now();
        let mut i = live(t0);
        let s = i.on_message(1, event("a", 1), t0);
        assert!(!s.reset && s.event.is_some());
        assert!(!i.on_message(1, beat("a", 1), t0).reset);
        assert!(!i.on_message(1, event("a", 2), t0).reset);
        // Number 3 was lost (a failed publish, a dropped message).
        let s = i.on_message(1, event("a", 4), t0);
        assert!(s.reset && s.event.is_some(), "the gap resets, and the event is still applied");
        // ... or shows at the next heartbeat.
        assert!(i.on_message(1, beat("a", 5), t0).reset);
        assert!(!i.on_message(1, beat("a", 5), t0).reset);
    }

    #[test]
    fn own_messages_are_not_applied_and_heartbeats_prove_the_path() {
        let t0 = Instant::now();
        let mut i = live(t0);
        let s = i.on_message(1, event("me", 1), t0);
        assert_eq!(s, Step { reset: false, event: None, echo: true });
        let limit = Duration::from_secs(3);
        assert!(!i.stale(t0 + limit, limit));
        assert!(i.stale(t0 + limit + Duration::from_millis(1), limit));
        assert_eq!(i.on_message(1, beat("me", 7), t0 + limit), Step::default());
        assert!(!i.stale(t0 + 2 * limit, limit));
    }

    #[test]
    fn unreadable_messages_reset_and_old_subscriptions_are_ignored() {
        let t0 = Instant::now();
        let mut i = live(t0);
        assert!(i.on_message(1, None, t0).reset);
        assert_eq!(i.on_message(0, event("a", 9), t0), Step::default());
        assert!(!i.lose(0), "an old subscription's loss changes nothing");
        assert!(i.lose(1));
        assert!(!i.lose(1), "reported once");
        assert_eq!(i.on_message(1, event("a", 1), t0), Step::default(), "not live");
        // A subscription that died before it was confirmed never goes live.
        assert!(!i.lose(2));
        assert!(!i.up(2, t0, SETTLE));
        assert!(i.up(3, t0, SETTLE));
    }

    #[test]
    fn a_sender_first_heard_late_resets_unless_it_is_at_its_start() {
        let t0 = Instant::now();
        let mut i = live(t0);
        // In the settling window: a sender already running is noted, and
        // one reset is owed when the window ends.
        assert!(!i.on_message(1, beat("old", 5), t0).reset);
        assert!(!i.on_message(1, event("old", 6), t0).reset);
        assert!(!i.tick(t0 + SETTLE / 2, Duration::from_secs(60)));
        assert!(!i.on_message(1, beat("old", 6), t0 + SETTLE).reset);
        assert!(i.tick(t0 + SETTLE, Duration::from_secs(60)), "owed at the window's end");
        assert!(!i.tick(t0 + SETTLE, Duration::from_secs(60)), "once");
        // After it: new senders at their start are fine, others reset.
        let t1 = t0 + SETTLE;
        assert!(!i.on_message(1, beat("new", 0), t1).reset);
        assert!(!i.on_message(1, event("newer", 1), t1).reset);
        assert!(i.on_message(1, event("missed-its-start", 2), t1).reset);
    }

    #[test]
    fn a_window_with_only_fresh_senders_owes_nothing() {
        let t0 = Instant::now();
        let mut i = live(t0);
        assert!(!i.on_message(1, beat("a", 0), t0).reset);
        assert!(!i.tick(t0 + SETTLE, Duration::from_secs(10)));
    }

    #[test]
    fn a_sender_gone_silent_resets_one_saying_goodbye_does_not() {
        let t0 = Instant::now();
        let silent = Duration::from_secs(3);
        let mut i = live(t0);
        for who in ["quiet", "polite"] {
            assert!(!i.on_message(1, event(who, 1), t0).reset);
        }
        assert!(!i.tick(t0 + SETTLE, silent));
        let t1 = t0 + SETTLE;
        assert!(!i.on_message(1, beat("quiet", 1), t1).reset);
        assert!(!i.on_message(1, bye("polite", 1), t1).reset, "a clean goodbye");
        assert!(!i.tick(t1 + silent, silent), "heard within the limit");
        assert!(i.tick(t1 + silent + Duration::from_millis(1), silent), "went silent");
        assert!(!i.tick(t1 + silent + Duration::from_millis(2), silent), "once");
        // Heard again later, it is new and not at its start: a reset.
        assert!(i.on_message(1, beat("quiet", 1), t1 + silent * 2).reset);
        // A goodbye that names an event we never got.
        assert!(!i.on_message(1, event("leaver", 1), t1).reset);
        assert!(i.on_message(1, bye("leaver", 2), t1).reset);
        // While not live, silence is expected and owes nothing more.
        assert!(i.lose(1));
        assert!(!i.tick(t1 + silent * 10, silent));
    }
}
