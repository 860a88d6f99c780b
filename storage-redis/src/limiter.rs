//! [`RedisLimiter`]: the token-fishing limiter shared by every app instance
//! on one Redis, so a caller throttled on one is throttled on all.

use std::sync::Arc;

use gatehouse_core::limiter::{gcra_retry_after, Admission, FishingLimiter, LimiterConfig, ANSWER_COST};
use gatehouse_core::model::ClientId;
use gatehouse_core::{StoreError, UnixTime};
use redis::{Cmd, Script, Value};

use crate::conn::{command, RedisConnection};
use crate::keys::Keys;
use crate::{scripts, RedisError};

/// The longest TTL a limiter entry gets (2^52 ms, about 140,000 years): far
/// beyond the slowest recovery (`60 × u32::MAX` sixtieths at one a second,
/// about 8,000 years), so it only bounds what a clock far ahead could ask
/// for, below what Redis accepts.
const MAX_TTL_MS: u64 = 1 << 52;

/// How long an entry outlives full recovery. A recovered entry decides
/// exactly like a missing one, so keeping it longer never changes a
/// decision; the grace absorbs clock skew between app instances (and
/// Redis), whose clocks the TTL would otherwise have to trust.
const TTL_GRACE_MS: u64 = 60_000;

/// A [`FishingLimiter`] in Redis: the exact GCRA of
/// [`gcra_reserve`](gatehouse_core::limiter::gcra_reserve), with the
/// caller's state in the string `<prefix>f:<caller>`, `<t>:<d>` (`t`: unix
/// seconds of its last charge; `d`: its debt then, in sixtieths of an
/// answer) followed by one `-` per refund since.
///
/// [`reserve`](FishingLimiter::reserve) is one Lua script that decides and
/// charges atomically, with a TTL that ends a minute after the caller has
/// fully recovered (no TTL for a rate of 0, which never recovers: delete
/// the key to lift it): one round trip, which the core runs concurrently
/// with the token's lookup. [`refund`](FishingLimiter::refund) (after an
/// active answer; an `APPEND` of one `-`) is not waited for: on a single
/// node it is queued on the connection without waiting for its reply; on a
/// cluster (whose connection always waits) it is sent from a task of its
/// own when called inside a Tokio runtime. A refund that fails is lost,
/// which only over-charges the caller. Decisions are the core's, exactly,
/// for every configuration and every clock below 2^53 s.
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    conn: RedisConnection,
    keys: Keys,
    cfg: LimiterConfig,
    script: Arc<Script>,
    background_refunds: bool,
}

impl RedisLimiter {
    /// A limiter on `conn` with keys under `prefix`.
    ///
    /// # Errors
    /// [`RedisError::InvalidPrefix`] when the prefix contains `{` or `}`.
    pub fn new(conn: RedisConnection, prefix: &str, cfg: LimiterConfig) -> Result<Self, RedisError> {
        Ok(Self::with_keys(conn, Keys::new(prefix)?, cfg))
    }

    pub(crate) fn with_keys(conn: RedisConnection, keys: Keys, cfg: LimiterConfig) -> Self {
        let script = scripts::limiter(cfg.refill_per_second(), cfg.capacity(), TTL_GRACE_MS, MAX_TTL_MS);
        Self { conn, keys, cfg, script: Arc::new(script), background_refunds: true }
    }

    /// The same limiter, with [`refund`](FishingLimiter::refund) finishing
    /// only once Redis has applied the refund (one more round trip), even
    /// inside a Tokio runtime. Tests use it to make refunds deterministic.
    #[must_use]
    pub fn awaiting_refunds(mut self) -> Self {
        self.background_refunds = false;
        self
    }

    /// The settings.
    pub fn config(&self) -> LimiterConfig {
        self.cfg
    }
}

impl FishingLimiter for RedisLimiter {
    async fn reserve(&self, caller: &ClientId, now: UnixTime) -> Result<Admission, StoreError> {
        let key = self.keys.limiter(caller);
        let mut cmd = command("EVALSHA", 5, 80 + key.len());
        cmd.arg(self.script.get_hash()).arg(1).arg(key).arg(now.0);
        match self.conn.evalsha(&self.script, &cmd).await? {
            Value::Int(0) => Ok(Admission::Allowed),
            Value::Array(reply) => match reply.as_slice() {
                [Value::Int(excess), Value::Int(behind)] => {
                    match (u64::try_from(*excess), u64::try_from(*behind)) {
                        (Ok(excess @ 1..), Ok(behind)) => Ok(Admission::Throttled {
                            retry_after: gcra_retry_after(&self.cfg, excess, behind),
                        }),
                        _ => Err(RedisError::UnexpectedReply("limiter reservation").into()),
                    }
                }
                _ => Err(RedisError::UnexpectedReply("limiter reservation").into()),
            },
            _ => Err(RedisError::UnexpectedReply("limiter reservation").into()),
        }
    }

    async fn refund(&self, caller: &ClientId, _now: UnixTime) -> Result<(), StoreError> {
        let cmd = refund_command(self.keys.limiter(caller));
        if self.background_refunds && self.conn.sends_unanswered() {
            // Queued on the multiplexed connection ahead of anything this
            // instance sends later; nobody waits for the reply. This costs
            // no task, no reply channel and no timer.
            self.conn.send_unanswered(cmd).await?;
            return Ok(());
        }
        let conn = self.conn.clone();
        let send = async move { conn.query::<Value>(&cmd).await };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if self.background_refunds => {
                // Losing a refund only over-charges, so nobody waits for it.
                drop(rt.spawn(send));
                Ok(())
            }
            _ => {
                send.await?;
                Ok(())
            }
        }
    }
}

/// The refund of one reservation: an `APPEND` of one `-` (one answer,
/// [`ANSWER_COST`], off the debt; the next reservation folds it in), which
/// keeps the key's TTL and costs redis-server about a seventh of a script
/// call. Unlike a script it creates a key that has gone since its
/// reservation (expired or deleted): a string of dashes without a TTL,
/// which the reservation script reads as an unseen caller and overwrites,
/// with a TTL, at the caller's next reservation.
fn refund_command(key: String) -> Cmd {
    const _: () = assert!(ANSWER_COST == 60, "the reservation script counts 60 per refund");
    let mut cmd = command("APPEND", 3, 8 + key.len());
    cmd.arg(key).arg("-");
    cmd
}
