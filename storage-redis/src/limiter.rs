//! [`RedisLimiter`]: the token-fishing limiter shared by every app instance
//! on one Redis, so a caller throttled on one is throttled on all.

use std::sync::Arc;

use gatehouse_core::limiter::{Admission, FishingLimiter, LimiterConfig};
use gatehouse_core::model::ClientId;
use gatehouse_core::{StoreError, UnixTime};
use redis::{Cmd, Script, Value};

use crate::conn::{command, RedisConnection};
use crate::keys::Keys;
use crate::{scripts, Error};

/// The longest a limiter entry lives (10 years), for configurations that
/// never refill: Redis refuses expiry times past `i64::MAX` ms.
const MAX_TTL_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

/// How long an entry outlives full recovery. A recovered TAT (at or before
/// `now`) decides exactly like a missing one, so keeping it longer never
/// changes a decision; the grace absorbs clock skew between app instances
/// (and Redis), whose clocks the TTL would otherwise have to trust.
const TTL_GRACE_MS: u64 = 60_000;

/// A [`FishingLimiter`] in Redis: the GCRA of
/// [`gcra_reserve`](gatehouse_core::limiter::gcra_reserve), with the
/// caller's theoretical arrival time (ms) under `<prefix>l:<caller>`.
///
/// [`reserve`](FishingLimiter::reserve) is one Lua script that decides and
/// charges atomically, with a TTL that ends a minute after the caller has
/// fully recovered: one round trip, which the core runs concurrently with
/// the token's lookup. [`refund`](FishingLimiter::refund) (after an active
/// answer; a `DECRBY`, or the script for a zero rate) is not waited for:
/// on a single node it is queued on the connection without waiting for
/// its reply; on a cluster (whose connection always waits) it is sent from
/// a task of its own when called inside a Tokio runtime. A refund that
/// fails is lost, which only over-charges the caller. Decisions are the
/// core's, to the millisecond, for every TAT below 2^53 ms (any real clock
/// and rate).
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    conn: RedisConnection,
    keys: Keys,
    cfg: LimiterConfig,
    script: Arc<Script>,
    /// Refund with `DECRBY` rather than the script; see `refund_command`.
    native_refund: bool,
    background_refunds: bool,
}

impl RedisLimiter {
    /// A limiter on `conn` with keys under `prefix`.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`] when the prefix contains `{` or `}`.
    pub fn new(conn: RedisConnection, prefix: &str, cfg: LimiterConfig) -> Result<Self, Error> {
        Ok(Self::with_keys(conn, Keys::new(prefix)?, cfg))
    }

    pub(crate) fn with_keys(conn: RedisConnection, keys: Keys, cfg: LimiterConfig) -> Self {
        let script = scripts::limiter(cfg.cost_ms(), cfg.tolerance_ms(), TTL_GRACE_MS, MAX_TTL_MS);
        // A stored TAT is at most `now + tolerance`: below 2^52 (written
        // with `%d`, an integer `DECRBY` accepts) whenever the tolerance
        // is below 2^51, i.e. for every rate of at least one per minute.
        let native_refund = cfg.tolerance_ms() < 1 << 51;
        Self { conn, keys, cfg, script: Arc::new(script), native_refund, background_refunds: true }
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

/// Parses a stored TAT or a wait; one past `u64::MAX` (a saturated double) reads as
/// `u64::MAX`, like the core's saturating arithmetic.
fn parse_tat(v: &[u8]) -> Result<u64, StoreError> {
    let s = std::str::from_utf8(v).map_err(|_| StoreError::Corrupt("limiter value".into()))?;
    match s.parse::<u64>() {
        Ok(t) => Ok(t),
        Err(_) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(u64::MAX),
        Err(_) => Err(StoreError::Corrupt("limiter value".into())),
    }
}

impl FishingLimiter for RedisLimiter {
    async fn reserve(&self, caller: &ClientId, now: UnixTime) -> Result<Admission, StoreError> {
        let key = self.keys.limiter(caller);
        let mut cmd = command("EVALSHA", 6, 80 + key.len());
        cmd.arg(self.script.get_hash()).arg(1).arg(key).arg("reserve").arg(now.0.saturating_mul(1000));
        let wait: Vec<u8> = self.conn.evalsha(&self.script, &cmd).await?;
        match parse_tat(&wait)? {
            0 => Ok(Admission::Allowed),
            ms => Ok(Admission::Throttled { retry_after: ms.div_ceil(1000).max(1) }),
        }
    }

    async fn refund(&self, caller: &ClientId, _now: UnixTime) -> Result<(), StoreError> {
        let cmd = self.refund_command(self.keys.limiter(caller));
        if self.background_refunds && self.conn.sends_unanswered() {
            // Queued on the multiplexed connection ahead of anything this
            // instance sends later; nobody waits for the reply. This costs
            // no task, no reply channel and no timer.
            self.conn.send_unanswered(cmd).await?;
            return Ok(());
        }
        let conn = self.conn.clone();
        let script = (!self.native_refund).then(|| Arc::clone(&self.script));
        let send = async move {
            match script {
                None => conn.query::<Value>(&cmd).await,
                Some(script) => conn.evalsha::<Value>(&script, &cmd).await,
            }
        };
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

impl RedisLimiter {
    /// The refund of one reservation: `DECRBY` when every TAT this
    /// configuration can store is a 64-bit integer, else the script's
    /// `refund` (which also copes with larger, `%.0f`-formatted TATs).
    ///
    /// `DECRBY` keeps the key's TTL and costs redis-server about a tenth
    /// of a script call. Unlike the script it creates a missing key (one
    /// that expired or was deleted since the reservation): a negative TAT
    /// without TTL, which decides like a missing one and gets its TTL at
    /// the caller's next reservation.
    fn refund_command(&self, key: String) -> Cmd {
        if self.native_refund {
            let mut cmd = command("DECRBY", 3, 32 + key.len());
            cmd.arg(key).arg(self.cfg.cost_ms());
            cmd
        } else {
            let mut cmd = command("EVALSHA", 5, 64 + key.len());
            cmd.arg(self.script.get_hash()).arg(1).arg(key).arg("refund");
            cmd
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tat_parsing() {
        assert_eq!(parse_tat(b"1234").unwrap(), 1234);
        assert_eq!(parse_tat(b"18446744073709551616").unwrap(), u64::MAX);
        assert!(parse_tat(b"1e5").is_err());
        assert!(parse_tat(b"").is_err());
    }
}
