//! The Lua scripts. Each runs atomically on the node that owns its first
//! key; all keys a script touches share one hash tag (one grant), so they
//! live on that node, in one slot, on Redis Cluster too.
//!
//! A token value is one state byte (`a` active, `r` revoked, `c` consumed)
//! followed by the record JSON; state changes are a one-byte `SETRANGE`,
//! which keeps the key's TTL.

use std::sync::LazyLock;

use redis::Script;

/// KEYS: token, grant. ARGV: value, member, ttl ms.
/// Returns 1 when stored, 0 when the token key exists (nothing changes).
pub(crate) static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = ARGV[1]
if redis.call('HEXISTS', KEYS[2], '!revoked') == 1 then v = 'r' .. string.sub(v, 2) end
if not redis.call('SET', KEYS[1], v, 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], '1')
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
",
    )
});

/// KEYS: token, its grant, then per replacement: token, grant.
/// ARGV: per replacement: value, member, ttl ms.
/// Returns `{code, old value}`: 0 unknown, 1 replayed, 2 taken, 3 conflict.
pub(crate) static CONSUME: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if not cur then return {0, ''} end
if string.sub(cur, 1, 1) ~= 'a' then return {1, cur} end
local n = (#KEYS - 2) / 2
local seen = {}
for i = 1, n do
  local k = KEYS[1 + 2 * i]
  if seen[k] or redis.call('EXISTS', k) == 1 then return {3, ''} end
  seen[k] = true
end
redis.call('SETRANGE', KEYS[1], 0, 'c')
for i = 1, n do
  local k, g = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local v, m, ttl = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if redis.call('HEXISTS', g, '!revoked') == 1 then v = 'r' .. string.sub(v, 2) end
  redis.call('SET', k, v, 'PX', ttl)
  redis.call('HSET', g, m, '1')
  if redis.call('PTTL', g) < tonumber(ttl) then redis.call('PEXPIRE', g, ttl) end
end
return {2, cur}
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
///
/// Token keys are built from the grant's member list, so they are not in
/// KEYS; they share the grant key's hash tag, hence its slot and node, which
/// is what Redis Cluster requires of a script.
pub(crate) static REVOKE_GRANT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local members = redis.call('HKEYS', KEYS[1])
for _, m in ipairs(members) do
  if m ~= '!revoked' then
    local k = ARGV[1] .. m
    if redis.call('EXISTS', k) == 1 then
      redis.call('SETRANGE', k, 0, 'r')
    else
      redis.call('HDEL', KEYS[1], m)
    end
  end
end
redis.call('HSET', KEYS[1], '!revoked', '1')
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
",
    )
});

/// The fishing limiter's GCRA (see `gatehouse_core::limiter`) for one
/// configuration: a reservation or a refund. KEYS: limiter. ARGV[1]:
/// `reserve` (ARGV[2]: now ms) or `refund`.
///
/// The cost, tolerance, grace and longest TTL (ms) are written into the
/// script as constants, so one configuration is one script (one SHA).
/// Each number passed as an argument costs Redis a `strtod` and each
/// formatted with `%.0f` a `printf_fp`; with these in the text and
/// integers below 2^52 formatted with `%d`, redis-server runs about a
/// quarter fewer instructions per introspection (callgrind).
///
/// `reserve`: admission and charge in one step. Stores
/// `max(tat, now) + cost` when admitted, with a TTL until it is fully
/// recovered plus the grace, and returns `'0'`; else changes nothing and
/// returns the wait in ms. Replies are decimal strings, since a Lua integer
/// reply would be truncated to 64 bits.
///
/// `refund`: lowers the stored TAT by the cost (not below 0), keeping its
/// TTL; a missing key (expired: fully recovered) stays missing. Returns 1
/// when applied.
///
/// Both are one script so that a refund sent without waiting for its reply
/// (which therefore cannot load the script after a `NOSCRIPT` error) finds
/// it loaded whenever the caller's reservation ran: a refund always follows
/// its reservation on the same connection.
///
/// Lua numbers are doubles: exact for every TAT below 2^53 ms. `%d`
/// formats through a C `long`, so it is used only below 2^52; larger
/// values (zero-rate configurations) keep `%.0f`.
pub(crate) fn limiter(cost_ms: u64, tolerance_ms: u64, grace_ms: u64, max_ttl_ms: u64) -> Script {
    Script::new(&format!(
        r"
local v = redis.call('GET', KEYS[1])
local cost = {cost_ms}
if ARGV[1] == 'refund' then
  if not v then return 0 end
  local tat = (tonumber(v) or 0) - cost
  if tat < 0 then tat = 0 end
  local s
  if tat < 4503599627370496 then s = string.format('%d', tat) else s = string.format('%.0f', tat) end
  redis.call('SET', KEYS[1], s, 'KEEPTTL')
  return 1
end
local tat = tonumber(v or '0') or 0
local now = tonumber(ARGV[2])
if tat < now then tat = now end
local wait = tat - now + cost - {tolerance_ms}
if wait > 0 then
  if wait < 4503599627370496 then return string.format('%d', wait) end
  return string.format('%.0f', wait)
end
tat = tat + cost
local ttl = tat - now + {grace_ms}
if ttl > {max_ttl_ms} then ttl = {max_ttl_ms} end
if ttl < 1 then ttl = 1 end
local s
if tat < 4503599627370496 then s = string.format('%d', tat) else s = string.format('%.0f', tat) end
redis.call('SET', KEYS[1], s, 'PX', string.format('%d', ttl))
return '0'
"
    ))
}
