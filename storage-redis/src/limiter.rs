//! [`RedisLimiter`]: the token-fishing limiter shared by every app instance
//! on one Redis, so a caller throttled on one is throttled on all.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use gatehouse_core::limiter::{
    gcra_retry_after, Admission, FishingLimiter, LimiterConfig, Reserved, ANSWER_COST,
};
use gatehouse_core::model::{ClientId, TokenDigest};
use gatehouse_core::{StoreError, TokenStore, UnixTime};
use redis::{Cmd, Script, Value};

use crate::conn::{command, RedisConnection};
use crate::keys::Keys;
use crate::{scripts, store, RedisError, RedisStore};

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
///
/// On a single server, built beside a store ([`RedisStore::limiter`]), it
/// also implements [`reserve_and_get`](FishingLimiter::reserve_and_get):
/// an introspection is then one script that checks the caller and reads
/// the token, charging nothing for a live one and so sending no refund
/// (see "Introspection in one script" in the crate docs).
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    conn: RedisConnection,
    keys: Keys,
    cfg: LimiterConfig,
    script: Arc<Script>,
    /// The reservation and the token's read in one script
    /// ([`FishingLimiter::reserve_and_get`]), for a single server.
    introspect: Arc<Script>,
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
        let (rate, capacity) = (cfg.refill_per_second(), cfg.capacity());
        let script = scripts::limiter(rate, capacity, TTL_GRACE_MS, MAX_TTL_MS);
        let introspect = scripts::introspect(rate, capacity, TTL_GRACE_MS, MAX_TTL_MS);
        Self {
            conn,
            keys,
            cfg,
            script: Arc::new(script),
            introspect: Arc::new(introspect),
            background_refunds: true,
        }
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

impl RedisLimiter {
    /// Whether `store` reads the key space this limiter writes: the same
    /// connection (a clone of it) and prefix, on a single server, where one
    /// script may touch the limiter's key and a token's.
    fn beside<'a, S: TokenStore>(&self, store: &'a S) -> Option<&'a RedisStore> {
        let store = (store as &dyn Any).downcast_ref::<RedisStore>()?;
        let same = !self.conn.is_cluster()
            && self.conn.same_connection(store.connection())
            && self.keys.prefix() == store.prefix();
        same.then_some(store)
    }

    /// [`FishingLimiter::reserve_and_get`] on a store beside this limiter.
    async fn reserve_and_get_in(
        &self,
        store: &RedisStore,
        caller: &ClientId,
        digest: &TokenDigest,
        now: UnixTime,
        skew: u64,
    ) -> Result<Reserved, StoreError> {
        let (limiter, token) = (self.keys.limiter(caller), store.keys().token(digest));
        let mut cmd = command("EVALSHA", 7, 120 + limiter.len() + token.len());
        cmd.arg(self.introspect.get_hash()).arg(2).arg(limiter).arg(token).arg(now.0);
        cmd.arg(now.0.saturating_sub(skew));
        match self.conn.evalsha(&self.introspect, &cmd).await? {
            Value::BulkString(v) => Ok(Reserved::Uncharged(store::decode(digest, &v)?)),
            Value::Int(0) => Ok(Reserved::Charged(None)),
            Value::Array(reply) => match reply.as_slice() {
                [Value::BulkString(v)] => Ok(Reserved::Charged(Some(store::decode(digest, v)?))),
                [Value::Int(excess), Value::Int(behind)] => {
                    let retry_after = self.retry_after(*excess, *behind, "introspection")?;
                    Ok(Reserved::Throttled { retry_after })
                }
                _ => Err(RedisError::UnexpectedReply("introspection").into()),
            },
            _ => Err(RedisError::UnexpectedReply("introspection").into()),
        }
    }

    /// `Retry-After` from a throttled script's `{excess, behind}`.
    fn retry_after(&self, excess: i64, behind: i64, what: &'static str) -> Result<u64, RedisError> {
        match (u64::try_from(excess), u64::try_from(behind)) {
            (Ok(excess @ 1..), Ok(behind)) => Ok(gcra_retry_after(&self.cfg, excess, behind)),
            _ => Err(RedisError::UnexpectedReply(what)),
        }
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
                [Value::Int(excess), Value::Int(behind)] => Ok(Admission::Throttled {
                    retry_after: self.retry_after(*excess, *behind, "limiter reservation")?,
                }),
                _ => Err(RedisError::UnexpectedReply("limiter reservation").into()),
            },
            _ => Err(RedisError::UnexpectedReply("limiter reservation").into()),
        }
    }

    /// One script on a single server, when `store` is beside this limiter
    /// (built by [`RedisStore::limiter`], or on a clone of its connection
    /// with its prefix); `None` on a cluster or for any other store.
    fn reserve_and_get<'a, S: TokenStore>(
        &'a self,
        store: &'a S,
        caller: &'a ClientId,
        digest: &'a TokenDigest,
        now: UnixTime,
        skew: u64,
    ) -> Option<impl Future<Output = Result<Reserved, StoreError>> + Send + 'a> {
        let store = self.beside(store)?;
        Some(self.reserve_and_get_in(store, caller, digest, now, skew))
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
