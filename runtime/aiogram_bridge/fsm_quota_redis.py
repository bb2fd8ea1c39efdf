"""Modules' FSM quotas counted in Redis, beside the Redis FSM storage, for every worker of the bot.

Per module three keys: ``sizes`` (a hash: storage key → "state bytes,data bytes"), ``expiry``
(a sorted set: storage key → when its entry lapses) and ``total`` (the bytes over all its keys);
plus one set of the modules that ever wrote (for the core's ``/start`` to find their
conversations). One Lua script checks and records a write atomically, so two workers admitting
writes of one module at the same time cannot both take its last free key or its last bytes.

Entries lapse like the FSM keys they stand for: the Redis FSM storage writes states and data
with a time to live (``host.shared_state.FSM_TTL``), refreshed at every write, and an entry's
expiry is refreshed at every admitted write with the same TTL, so conversations abandoned long
ago stop counting against the module when Redis forgets them (each admit first drops up to
``PRUNE_BATCH`` lapsed entries).

The count and the storage are written one after the other, not in one transaction: a write the
ledger admitted but Redis then failed to store counts until the key is cleared or lapses (errs
towards refusing, never towards exceeding).

When Redis is unreachable the FSM storage itself is, so module FSM calls fail (fail-closed) with
the error naming the module; they work again when Redis answers.
"""

from __future__ import annotations

import json
from typing import Any

from aiogram.fsm.storage.base import StorageKey

from .fsm_keys import key_to_wire, module_key
from .fsm_quota import MAX_DATA_TOTAL, MAX_KEYS, too_many_keys, too_much_data

PRUNE_BATCH = 1000  # lapsed entries one admit drops at most (bounds the script's time)

# KEYS: sizes, expiry, total, modules. ARGV: field, state bytes or '', data bytes or '', max keys,
# max total, ttl ms (0: none), module, prune batch. Returns 0 (admitted), 1 (too many keys), 2 (too much data).
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function sizes_of(value)
  if not value then return 0, 0 end
  local comma = string.find(value, ',')
  return tonumber(string.sub(value, 1, comma - 1)), tonumber(string.sub(value, comma + 1))
end
for _, lapsed in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[8]))) do
  local s, d = sizes_of(redis.call('HGET', KEYS[1], lapsed))
  redis.call('DECRBY', KEYS[3], s + d)
  redis.call('HDEL', KEYS[1], lapsed)
  redis.call('ZREM', KEYS[2], lapsed)
end
local current = redis.call('HGET', KEYS[1], ARGV[1])
local had_state, had_data = sizes_of(current)
local state, data = had_state, had_data
if ARGV[2] ~= '' then state = tonumber(ARGV[2]) end
if ARGV[3] ~= '' then data = tonumber(ARGV[3]) end
if state == 0 and data == 0 then
  if current then
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('DECRBY', KEYS[3], had_state + had_data)
  end
  return 0
end
if not current and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
if total - had_state - had_data + state + data > tonumber(ARGV[5]) then return 2 end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d,%d', state, data))
redis.call('INCRBY', KEYS[3], state + data - had_state - had_data)
local ttl = tonumber(ARGV[6])
if ttl > 0 then
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
else
  redis.call('ZADD', KEYS[2], '+inf', ARGV[1])
end
redis.call('SADD', KEYS[4], ARGV[7])
return 0
"""


def _field(key: StorageKey) -> str:
    return json.dumps(key_to_wire(key), separators=(",", ":"))


class RedisFSMLedger:
    def __init__(
        self,
        redis: Any,
        prefix: str,
        *,
        ttl_seconds: int | None = None,
        max_keys: int = MAX_KEYS,
        max_total: int = MAX_DATA_TOTAL,
    ) -> None:
        self.redis = redis
        self.prefix = prefix  # e.g. "solobot:<bot id>:fsm_quota:"
        self.ttl_ms = 0 if ttl_seconds is None else ttl_seconds * 1000
        self.max_keys = max_keys
        self.max_total = max_total
        self._admit = redis.register_script(ADMIT)

    def _keys(self, module: str) -> list[str]:
        base = f"{self.prefix}module:{module}:"
        return [base + "sizes", base + "expiry", base + "total", self.prefix + "modules"]

    async def admit(self, module: str, key: StorageKey, *, state: int | None = None, data: int | None = None) -> None:
        args = [
            _field(key),
            "" if state is None else str(int(state)),
            "" if data is None else str(int(data)),
            str(self.max_keys),
            str(self.max_total),
            str(self.ttl_ms),
            module,
            str(PRUNE_BATCH),
        ]
        verdict = int(await self._admit(keys=self._keys(module), args=args))
        if verdict == 1:
            raise too_many_keys(module, self.max_keys)
        if verdict == 2:
            raise too_much_data(module, self.max_total)

    async def modules_with_state(self, key: StorageKey) -> list[str]:
        modules = sorted(m.decode() if isinstance(m, bytes) else m for m in await self.redis.smembers(self.prefix + "modules"))
        if not modules:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for module in modules:
                pipe.hget(self._keys(module)[0], _field(module_key(module, key)))
            sizes = await pipe.execute()
        return [module for module, size in zip(modules, sizes, strict=True) if size and not size.startswith(b"0,")]
