//! The Lua scripts. Each runs atomically on the node that owns its first
//! key; all keys a script touches share one hash tag (one grant), so they
//! live on that node, in one slot, on Redis Cluster too.
//!
//! A token value is one state byte (`a` active, `r` revoked, `c` consumed)
//! followed by the core's binary record (or, in values written by earlier
//! versions, its JSON); state changes are a one-byte `SETRANGE`, which
//! keeps the key's TTL. No script reads past the state byte, so both forms
//! of the record behave alike here.

use std::sync::LazyLock;

use gatehouse_core::limiter::ANSWER_COST;
use gatehouse_core::model::{EXPIRES_AT_OFFSET, RECORD_FORMAT_VERSION};
use redis::Script;

/// KEYS: token, grant. ARGV: value, member, ttl ms, expires_at (unix s).
/// Returns 1 when stored, 0 when the token key exists (nothing changes).
///
/// The grant hash's `!e` field is the latest `expires_at` of its tokens
/// that the bulk-revocation indexes were told about (see `CONSUME`).
pub(crate) static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = ARGV[1]
if redis.call('HEXISTS', KEYS[2], '!revoked') == 1 then v = 'r' .. string.sub(v, 2) end
if not redis.call('SET', KEYS[1], v, 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], '1')
if (tonumber(redis.call('HGET', KEYS[2], '!e')) or 0) < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[2], '!e', ARGV[4])
end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
",
    )
});

/// KEYS: token, its grant, then per replacement: token, grant.
/// ARGV: per replacement: value, member, ttl ms, expires_at (unix s).
/// Returns `{code, old value, grew}`: code 0 unknown, 1 replayed, 2 taken,
/// 3 conflict; `grew` is 1 when a replacement outlives every token of its
/// grant seen before (a code exchange), so that the caller moves the
/// grant's end in the bulk-revocation indexes, which live in other slots.
pub(crate) static CONSUME: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if not cur then return {0, '', 0} end
if string.sub(cur, 1, 1) ~= 'a' then return {1, cur, 0} end
local n = (#KEYS - 2) / 2
local seen = {}
for i = 1, n do
  local k = KEYS[1 + 2 * i]
  if seen[k] or redis.call('EXISTS', k) == 1 then return {3, '', 0} end
  seen[k] = true
end
redis.call('SETRANGE', KEYS[1], 0, 'c')
local grew = 0
for i = 1, n do
  local k, g = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local v, m, ttl, e = ARGV[4 * i - 3], ARGV[4 * i - 2], ARGV[4 * i - 1], ARGV[4 * i]
  if redis.call('HEXISTS', g, '!revoked') == 1 then v = 'r' .. string.sub(v, 2) end
  redis.call('SET', k, v, 'PX', ttl)
  redis.call('HSET', g, m, '1')
  if (tonumber(redis.call('HGET', g, '!e')) or 0) < tonumber(e) then
    redis.call('HSET', g, '!e', e)
    grew = 1
  end
  if redis.call('PTTL', g) < tonumber(ttl) then redis.call('PEXPIRE', g, ttl) end
end
return {2, cur, grew}
",
    )
});

/// KEYS: token. Returns 1 when the token existed (now revoked), else 0.
pub(crate) static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SETRANGE', KEYS[1], 0, 'r')
return 1
",
    )
});

/// KEYS: grant. ARGV: token key base (`<p>t:{<grant>}:`), marker ttl ms.
/// Returns 1 when the grant had an active token, else 0.
///
/// Token keys are built from the grant's member list, so they are not in
/// KEYS; they share the grant key's hash tag, hence its slot and node, which
/// is what Redis Cluster requires of a script. Fields starting with `!`
/// are the grant's own (`!revoked`, `!e`), not tokens.
pub(crate) static REVOKE_GRANT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local members = redis.call('HKEYS', KEYS[1])
local active = 0
for _, m in ipairs(members) do
  if string.sub(m, 1, 1) ~= '!' then
    local k = ARGV[1] .. m
    local s = redis.call('GETRANGE', k, 0, 0)
    if s ~= '' then
      if s == 'a' then active = 1 end
      redis.call('SETRANGE', k, 0, 'r')
    else
      redis.call('HDEL', KEYS[1], m)
    end
  end
end
redis.call('HSET', KEYS[1], '!revoked', '1')
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return active
",
    )
});

/// A bulk-revocation index (a sorted set of grants scored by their end,
/// unix s). KEYS: the index. ARGV: member, its grant's end, cutoff (unix
/// s: members ending before it are dropped), now (unix s), grace ms, the
/// longest TTL ms.
///
/// Adds the member or moves its end later (never earlier: `GT`), drops the
/// members whose grants ended (each write pays for the entries that
/// expired since the last, so the set holds live grants only, give or take
/// the grace), and keeps the key until the latest end plus the grace.
pub(crate) static INDEX: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then
  local ttl = (tonumber(top[2]) - tonumber(ARGV[4])) * 1000 + tonumber(ARGV[5])
  if ttl > tonumber(ARGV[6]) then ttl = tonumber(ARGV[6]) end
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
end
return 1
",
    )
});

/// The fishing limiter's reservation (see `gatehouse_core::limiter`) for
/// one configuration. KEYS: the caller's limiter string, `<t>:<d>` then
/// one `-` per refund since (`t`: unix seconds of its last charge, as
/// sent; `d`: its debt then, in sixtieths of an answer; each `-` takes
/// one answer, 60, off `d`). ARGV[1]: now (unix seconds).
///
/// The rate (debt paid back per second), the capacity, the grace and the
/// longest TTL (ms) are written into the script as constants, so one
/// configuration is one script (one SHA): each number passed as an
/// argument would cost Redis a `strtod`.
///
/// Admission and charge in one step, as `gcra_reserve`: admitted, it
/// stores `t = max(t, now)` and the new debt (refunds folded in) with one
/// `SET`, with a TTL until the debt is paid back plus the grace (none for
/// a rate of 0, which never pays back: a `SET` without `PX` drops any
/// TTL), and returns 0; throttled, it changes nothing and returns
/// `{excess, behind}` for `gcra_retry_after` (a table reply costs
/// redis-server about 6k instructions, so the common answer is a plain
/// integer). A value of dashes only (a late refund's `APPEND` created the
/// key) is an unseen caller; any other value not of the form above is an
/// error, so the caller fails closed.
///
/// One string and two calls (`GET`, `SET … PX`) where a hash needs three
/// (`HMGET`, `HSET`, `PEXPIRE`): each `redis.call` costs redis-server
/// several thousand instructions (see the crate README).
///
/// Lua numbers are doubles, and every value here is an exact integer: a
/// debt is below 2^38 and a time below 2^53 s (`t` is stored as the
/// string it came as, never formatted; a longer one is not an integer
/// once read, and fails the `% 1` check). The one product that may not
/// be, `(now - t) * rate`, is only compared with the debt: when it is
/// 2^53 or more, so is its rounded value, and either way it covers any
/// debt.
pub(crate) fn limiter(rate: u64, capacity: u64, grace_ms: u64, max_ttl_ms: u64) -> Script {
    let read = limiter_read(rate, capacity);
    let charge = limiter_charge(rate, grace_ms, max_ttl_ms);
    Script::new(&format!(
        r"
local v = redis.call('GET', KEYS[1])
{read}
{charge}
return 0
"
    ))
}

/// An introspection's admission and its token's read in one step, on a
/// single server (the two keys live in different Cluster slots), for one
/// limiter configuration: `FishingLimiter::reserve_and_get`. KEYS: the
/// caller's limiter string (as in [`limiter`]), the token. ARGV[1]: now
/// (unix seconds); ARGV[2]: the latest expiry that counts as expired (now
/// less the core's clock skew).
///
/// A token *looks live* when its value is state `a` then a binary record
/// (version byte [`RECORD_FORMAT_VERSION`]) of an access token (kind byte
/// 0, offset 2) whose `expires_at` ([`EXPIRES_AT_OFFSET`], a little-endian
/// `u64`) is after ARGV[2]. A throttled caller gets `{excess, behind}` as
/// from [`limiter`], nothing charged, whatever the token. Otherwise a
/// live-looking token's value comes back as is (a bulk string), nothing
/// charged or written; any other token is charged exactly as [`limiter`]
/// charges, and comes back as `{value}`, or `0` when there is none.
///
/// The guess need not match the core's verdict (a JSON record never looks
/// live; an expiry above 2^53 s is rounded, and still far ahead): the core
/// refunds a charged answer that is active and reserves before answering
/// an uncharged one that is not, so the guess only decides the cost.
///
/// An unseen caller (no limiter string) is never throttled when the
/// capacity holds one answer, so a live-looking token is then answered
/// without parsing anything: a busy resource server whose tokens are valid
/// is never charged and so has no limiter string.
pub(crate) fn introspect(rate: u64, capacity: u64, grace_ms: u64, max_ttl_ms: u64) -> Script {
    let read = limiter_read(rate, capacity);
    let charge = limiter_charge(rate, grace_ms, max_ttl_ms);
    let version = RECORD_FORMAT_VERSION;
    // Lua strings count from 1, and the record starts after the state
    // byte: its version is byte 2, its kind byte 4 (one `string.byte` call
    // reads the four: 1.3k instructions fewer than one call each).
    let (exp_first, exp_last) = (EXPIRES_AT_OFFSET + 2, EXPIRES_AT_OFFSET + 9);
    let unseen = if capacity >= ANSWER_COST { "if live and not v then return tok end" } else { "" };
    Script::new(&format!(
        r"
local tok = redis.call('GET', KEYS[2])
local live = false
if tok then
  local state, version, _, kind = string.byte(tok, 1, 4)
  if state == 97 and version == {version} and kind == 0 then
    local a, b, c, d, e, f, g, h = string.byte(tok, {exp_first}, {exp_last})
    live = h ~= nil and ((((((h * 256 + g) * 256 + f) * 256 + e) * 256 + d) * 256 + c) * 256 + b) * 256 + a > tonumber(ARGV[2])
  end
end
local v = redis.call('GET', KEYS[1])
{unseen}
{read}
if live then return tok end
{charge}
if tok then return {{tok}} end
return 0
"
    ))
}

/// The reservation's decision, as Lua: from `v` (the limiter string, or
/// false) and ARGV[1] (now), the debt outstanding now, how far the stored
/// second is ahead of now (`behind`) and the second to store (`at`); a
/// throttled caller returns `{excess, behind}` here.
fn limiter_read(rate: u64, capacity: u64) -> String {
    format!(
        r"local now = tonumber(ARGV[1])
local debt, behind, at = 0, 0, ARGV[1]
if v then
  local ts, ds, refunds = string.match(v, '^(%d+):(%d+)(%-*)$')
  if ts then
    local t, d = tonumber(ts), tonumber(ds) - 60 * #refunds
    if t % 1 ~= 0 or d % 1 ~= 0 then
      return redis.error_reply('corrupt limiter entry')
    end
    if t > now then
      behind, at = t - now, ts
      if d > 0 then debt = d end
    elseif (now - t) * {rate} < d then
      debt = d - (now - t) * {rate}
    end
  elseif not string.find(v, '^%-+$') then
    return redis.error_reply('corrupt limiter entry')
  end
end
if debt + 60 > {capacity} then
  if behind > 4503599627370496 then behind = 4503599627370496 end
  return {{debt + 60 - {capacity}, behind}}
end"
    )
}

/// The charge of an admitted reservation, as Lua: one answer on top of
/// `debt`, stored with `at` and its TTL.
fn limiter_charge(rate: u64, grace_ms: u64, max_ttl_ms: u64) -> String {
    if rate == 0 {
        // The caller's `burst` answers are for the key's lifetime: no TTL.
        return "debt = debt + 60
redis.call('SET', KEYS[1], at .. ':' .. string.format('%d', debt))"
            .to_owned();
    }
    format!(
        r"debt = debt + 60
local q = math.ceil(debt / {rate})
if (q - 1) * {rate} >= debt then q = q - 1 end
if q * {rate} < debt then q = q + 1 end
local ttl = (behind + q) * 1000 + {grace_ms}
if ttl > {max_ttl_ms} then ttl = {max_ttl_ms} end
redis.call('SET', KEYS[1], at .. ':' .. string.format('%d', debt), 'PX', string.format('%d', ttl))"
    )
}
