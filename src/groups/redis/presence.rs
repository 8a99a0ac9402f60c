//! Presence in Redis: one sorted set per group, `PREFIX:p:GROUP`, whose members are
//! `ID` or `ID:NAME` (ID = the connection id in 32 hex digits) scored by the time the
//! entry expires, in Redis's clock (so the processes' clocks need not agree). Each
//! process refreshes its own entries every heartbeat; the entries of a process that
//! died stop being refreshed and no longer count once their score is past.

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script};

use crate::groups::{ConnectionId, Presence};

/// Most members in one script call, so one call never carries an unbounded argument list.
const CHUNK: usize = 512;

/// Sets each member's expiry to now + ttl, drops entries already expired, and keeps
/// the key itself alive at least as long as its newest entry.
const REFRESH: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 0
";

/// Counts the live entries; lists them when there are at most ARGV[1].
const QUERY: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = '(' .. now
local n = redis.call('ZCOUNT', KEYS[1], live, '+inf')
if n <= tonumber(ARGV[1]) then
  return {n, redis.call('ZRANGEBYSCORE', KEYS[1], live, '+inf')}
end
return {n}
";

pub(super) struct Scripts {
    refresh: Script,
    query: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            refresh: Script::new(REFRESH),
            query: Script::new(QUERY),
        }
    }

    /// Puts (or refreshes) `entries` in `key` with `ttl_ms` to live.
    pub(super) async fn refresh(
        &self,
        conn: &mut ConnectionManager,
        key: &str,
        entries: &[String],
        ttl_ms: u64,
    ) -> RedisResult<()> {
        for chunk in entries.chunks(CHUNK) {
            self.refresh
                .key(key)
                .arg(ttl_ms)
                .arg(chunk)
                .invoke_async::<()>(conn)
                .await?;
        }
        Ok(())
    }

    /// Who is in `key`, listing the members when there are at most `limit`.
    pub(super) async fn query(
        &self,
        conn: &mut ConnectionManager,
        key: &str,
        limit: usize,
    ) -> RedisResult<Presence> {
        // {count} or {count, entries}: decoded by hand, a tuple would need both.
        let reply: Vec<redis::Value> = self.query.key(key).arg(limit).invoke_async(conn).await?;
        let mut reply = reply.into_iter();
        let count: usize = match reply.next() {
            Some(v) => redis::from_redis_value(v)?,
            None => 0,
        };
        let members = match reply.next() {
            Some(v) => {
                let entries: Vec<Vec<u8>> = redis::from_redis_value(v)?;
                Some(entries.iter().filter_map(|e| parse(e)).collect())
            }
            None => None,
        };
        Ok(Presence { count, members })
    }
}

/// The entry of one member: `ID` or `ID:NAME`.
pub(super) fn entry(id: u128, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{id:032x}:{name}"),
        None => format!("{id:032x}"),
    }
}

/// The member an entry names; `None` for an entry not written by this layer.
pub(super) fn parse(entry: &[u8]) -> Option<(ConnectionId, Option<String>)> {
    let hex = std::str::from_utf8(entry.get(..32)?).ok()?;
    let id = u128::from_str_radix(hex, 16).ok()?;
    let name = match entry.get(32..) {
        None | Some([]) => None,
        Some([b':', name @ ..]) => Some(String::from_utf8_lossy(name).into_owned()),
        Some(_) => return None,
    };
    Some((ConnectionId::from_u128(id), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let id = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
        assert_eq!(entry(id, None), "0123456789abcdef0011223344556677");
        for name in [None, Some(""), Some("ada:lovelace é")] {
            let e = entry(id, name);
            assert_eq!(
                parse(e.as_bytes()),
                Some((ConnectionId::from_u128(id), name.map(str::to_owned)))
            );
        }
        assert_eq!(parse(b"short"), None);
        assert_eq!(parse(b"0123456789abcdef0011223344556677x"), None);
        assert_eq!(parse(b"zz23456789abcdef0011223344556677"), None);
    }
}
