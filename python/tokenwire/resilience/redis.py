"""Rate-limit buckets and circuit-breaker state shared between processes, in Redis.

Needs the ``redis`` extra (``pip install 'tokenwire[redis]'``) and the asyncio event
loop (``redis.asyncio``). With a :class:`~tokenwire.manager.ProviderManager` (or a
client) there is nothing to wire: ``shared_state=SharedState.from_url(url)``
(:class:`tokenwire.resilience.SharedState`) builds both stores below and drives them.
By hand — N worker processes that point at the same Redis and key ``prefix`` share one
provider quota and see each other's breaker openings::

    from tokenwire.resilience import AdaptiveRateLimiter, CircuitBreaker, LimiterConfig
    from tokenwire.resilience.redis import RedisBreakerStore, RedisBucketStore

    buckets = RedisBucketStore.from_url("redis://127.0.0.1:6379/0")
    limiter = AdaptiveRateLimiter("openai", LimiterConfig(requests_per_minute=500), buckets=buckets)

    breakers = RedisBreakerStore.from_url("redis://127.0.0.1:6379/0")
    breaker = CircuitBreaker("openai/gpt-4o")
    breakers.bind(breaker)
    permit = await breakers.acquire(breaker)      # refreshes the shared state, then acquires

**Buckets** (:class:`RedisBucketStore`, :class:`RedisTokenBucket`). Each bucket is a
Redis hash (rate, burst, tokens, last update, drain window — the state of
:class:`~tokenwire.TokenBucket`) changed only by one Lua script, so every change is
atomic. The script applies a batch of operations in order — the ones the limiter made
synchronously since the last round trip (rate changes, header drains, refunds) and then
an all-or-nothing take over several buckets (the limiter's request and token buckets
together) — and answers the wait and the new state, in one ``EVALSHA`` (``SCRIPT LOAD``
and again when the server answers ``NOSCRIPT``, e.g. after a restart). The arithmetic
is the local bucket's, operation for operation, so with explicit times
(``time_source="caller"``) it returns bit-identical results.

*Time*: by default (``time_source="server"``) the script reads the Redis server's
``TIME``, so all processes share one clock whatever their own clocks say; the ``now``
the methods take (the limiter's clock) only turns absolute times into durations
(``drain``'s ``reset_at``) and maps the local view (below) onto the server's clock.
``TIME`` is the server's wall clock: a step backwards counts as no elapsed time, a
step forwards refills early. ``time_source="caller"`` uses the ``now`` arguments
instead: for tests, or processes that share a clock (``time.time()``).

*Synchronous methods*: :class:`RedisTokenBucket` implements the interface of
:class:`~tokenwire.TokenBucket` (what the limiter calls), but its synchronous methods
act on a local view of the last state Redis answered: ``set_rate``, ``drain``,
``refund`` (and ``try_acquire`` when it succeeds) change the view at once and are
queued for Redis, where they are applied with the next take of that bucket or by a
flush scheduled right away on the running loop. Grants never come from the view: the
limiter takes through :meth:`RedisBucketStore.take`. ``available`` reads the view (an
estimate: other processes' takes since the last round trip are not in it);
``rate``/``burst`` are what this process set. Settings are last-writer-wins: a process
writes the rate only when its own limits or AIMD scale change, so one process's 429
cut reaches the others' grants until one of them changes its own.

*Header drains*: ``drain(remaining, …)`` from one process cannot know the grants other
processes made after the response it reads. With ``drain_raises=False`` (the default)
a drain therefore never raises the shared level — it lowers it and sets the refill
schedule to the provider's reset; ``drain_raises=True`` sets the level exactly as
:meth:`~tokenwire.TokenBucket.drain` does.

*Waiting*: a limiter's callers queue FIFO within their process; across processes
there is no queue — whoever asks first after a refill gets it. Refunds and rate changes
of other processes wake nobody here, so :meth:`RedisBucketStore.take` answers at most
``recheck_interval`` (0.5 s) and waiters look again.

*Keys*: ``<prefix>:bucket:{<limiter key>}:<quota>`` — a limiter's two buckets share its
key in a hash tag, so the atomic take over both works on Redis Cluster too. A bucket
expires ``ttl`` seconds (default 1 h) after its last change, or when it would be full
again if that is later: a bucket that expires idle is recreated full, as it was.

**Breakers** (:class:`RedisBreakerStore`). Each bound breaker's transitions are written
to a hash ``<prefix>:breaker:<breaker key>`` (state, open until — on the server's clock —,
openings in a row, a version and a global ``opened`` count) by a listener, flushed at
once on the running loop; reads (:meth:`RedisBreakerStore.sync`, :meth:`~RedisBreakerStore.acquire`,
or the :meth:`~RedisBreakerStore.run` loop) adopt a newer record: open with time left →
the local breaker opens until then (:meth:`CircuitBreaker.trip` with ``until``), closed
→ it resets. Reads are cached for ``cache_ttl`` (0.25 s) per breaker. Half-open probing
stays per process (each process sends its own probes once the interval ends). Records
expire ``ttl`` after their last write. Every breaker's hash is a key of its own, so on a
Redis Cluster (a ``redis.asyncio.RedisCluster``, or a node that answers ``CROSSSLOT``)
several breakers are read one key per call instead of in one script call.

**When Redis fails** (unreachable, timeout, error reply): :class:`SharedStateError`, a
:class:`~tokenwire.errors.ConfigurationError` — the shared store is part of the
deployment, and the error must neither be retried as a provider error nor count
against a provider's breaker (it is neither retryable nor a breaker failure under the
default rules). ``on_error`` chooses what happens then:

- ``"raise"`` (default, **fail closed**): the call that needed Redis raises it. An
  outage stops traffic rather than silently multiplying the quota by N processes; a
  wrong URL shows up at the first call.
- ``"local"`` (**fail open**): log a warning and go on with this process's view — its
  buckets grant from the local view (limits then hold per process, not in total), its
  breakers keep their local state — and retry Redis after ``fallback_seconds`` (1 s).
  Grants and changes made meanwhile are queued and applied once Redis answers again.

Writes that happen in the background (listener-triggered flushes) log their failures
and stay queued; the next explicit call reports the error per ``on_error``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import anyio

from tokenwire._pure.bucket import TokenBucket as _PureTokenBucket
from tokenwire.errors import ConfigurationError
from tokenwire.resilience.breaker import BreakerPermit, BreakerState, CircuitBreaker
from tokenwire.resilience.limiter import BucketBackend, RateBucket

try:
    import redis.asyncio as redis_asyncio
    import redis.exceptions as redis_exceptions
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("tokenwire.resilience.redis needs the redis package: pip install 'tokenwire[redis]'") from exc

if TYPE_CHECKING:
    from collections.abc import Generator

#: A client the stores accept: one server (``redis.asyncio.Redis``) or a Redis Cluster.
RedisClient = Union["redis_asyncio.Redis", "redis_asyncio.RedisCluster"]

__all__ = [
    "OnError",
    "RedisClient",
    "RedisBreakerStore",
    "RedisBucketStore",
    "RedisTokenBucket",
    "SharedBreakerRecord",
    "SharedStateError",
    "TimeSource",
]

logger = logging.getLogger("tokenwire.resilience")

#: What a store does when Redis fails: raise (fail closed) or go on locally (fail open).
OnError = Literal["raise", "local"]
#: Whose clock the bucket script uses: Redis ``TIME`` or the ``now`` arguments.
TimeSource = Literal["server", "caller"]

_REDIS_ERRORS: tuple[type[BaseException], ...] = (redis_exceptions.RedisError, OSError, asyncio.TimeoutError)


class SharedStateError(ConfigurationError):
    """Redis, holding the shared limiter/breaker state, failed or is unreachable.

    A :class:`~tokenwire.errors.ConfigurationError`: not retried by
    :class:`~tokenwire.resilience.RetryPolicy` and not counted against a provider's
    circuit breaker. The Redis exception is the ``__cause__``.
    """


# ---------------------------------------------------------------------------
# Lua
# ---------------------------------------------------------------------------

# The bucket arithmetic below is tokenwire/_pure/bucket.py's, operation for operation
# (Lua numbers are IEEE doubles, one rounding per operator, as in Python and Rust).
_BUCKET_LUA = r"""
-- tokenwire shared token buckets: one atomic batch of operations.
-- KEYS: bucket hashes. ARGV: ttl, now ('' = Redis TIME), then per key rate, burst,
-- created ('' = batch time), then operations of 6 fields: kind, key index, a, b, c, t.
local function fmt(x) return string.format('%.17g', x) end
local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end
local function ulp(x)
  if x == 0 then return math.ldexp(1, -1074) end
  local _, e = math.frexp(x)
  local p = e - 53
  if p < -1074 then p = -1074 end
  return math.ldexp(1, p)
end

local ttl = tonumber(ARGV[1])
local server = ARGV[2] == ''
local now
if server then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[2])
end

local function settled(s, t)
  local tokens, last, til, debt = s.t, s.l, s.du, s.dd
  if t <= last then return tokens, last, til, debt end
  local frm = last
  local burst = s.b
  if til then
    local d_rate = s.dr
    local line
    if t < til then line = burst - debt - (til - t) * d_rate else line = burst - debt end
    if line >= burst then
      if t < til then debt = -((til - t) * d_rate) else debt = 0.0 end
      tokens = burst
    elseif line > tokens then
      tokens = line
    end
    if t < til then return tokens, t, til, debt end
    frm = til
    til = nil
  end
  if s.r > 0.0 then
    tokens = tokens + (t - frm) * s.r
    if not (tokens < burst) then tokens = burst end
  end
  return tokens, t, til, debt
end

local function settle(s, t)
  s.t, s.l, s.du, s.dd = settled(s, t)
end

local function wait_for(s, tokens)
  local level = s.t
  local offset = 0.0
  if s.du then
    local span = s.du - s.l
    local reach = s.b - s.dd
    if reach >= tokens then
      if s.dr > 0.0 then
        local w = span - (reach - tokens) / s.dr
        if w > 0.0 then return w end
        return 0.0
      end
      return 0.0
    end
    if reach > level then level = reach end
    offset = span
  end
  if s.r > 0.0 then return offset + (tokens - level) / s.r end
  return math.huge
end

local function wait_until(s, tokens, t)
  local w = wait_for(s, tokens) + (s.l - t)
  if finite(w) then
    local at = math.abs(t)
    local step
    if at > w then step = ulp(at) else step = ulp(w) end
    while finite(w) and (settled(s, t + w)) < tokens do
      w = w + step
      step = step * 2.0
    end
  end
  return w
end

local S = {}
local arg = 3
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'r', 'b', 't', 'l', 'du', 'dr', 'dd')
  if h[2] then
    local du = nil
    if h[5] and h[5] ~= '' then du = tonumber(h[5]) end
    S[i] = {r = tonumber(h[1]), b = tonumber(h[2]), t = tonumber(h[3]), l = tonumber(h[4]),
            du = du, dr = tonumber(h[6]), dd = tonumber(h[7]), dirty = false}
  else
    local b = tonumber(ARGV[arg + 1])
    local created = now
    if ARGV[arg + 2] ~= '' then created = tonumber(ARGV[arg + 2]) end
    S[i] = {r = tonumber(ARGV[arg]), b = b, t = b, l = created, du = nil, dr = 0.0, dd = 0.0, dirty = true}
  end
  arg = arg + 3
end

local result = 0.0
local take = {}
while arg + 5 <= #ARGV do
  local kind = ARGV[arg]
  local s = S[tonumber(ARGV[arg + 1])]
  local a = tonumber(ARGV[arg + 2])
  local b, c = ARGV[arg + 3], ARGV[arg + 4]
  local t = now
  if ARGV[arg + 5] ~= '' then t = tonumber(ARGV[arg + 5]) end
  arg = arg + 6
  if kind == 'acq' then
    local need = a
    if need > s.b then need = s.b end
    take[#take + 1] = {s = s, n = need, t = t}
  elseif kind == 'avail' then
    result = (settled(s, t))
  else
    s.dirty = true
    settle(s, t)
    if kind == 'set' then
      s.r = a
      if b ~= '' then
        local nb = tonumber(b)
        if s.du then s.dd = s.dd + (nb - s.b) end
        s.b = nb
        if not (s.t < nb) then s.t = nb end
      end
    elseif kind == 'drain' then
      local remaining = a
      if c ~= '1' and remaining > s.t then remaining = s.t end
      if remaining < 0.0 then s.t = 0.0 elseif remaining < s.b then s.t = remaining else s.t = s.b end
      local reset_at = tonumber(b)
      if server then reset_at = t + reset_at end
      if reset_at > s.l then
        s.dr = (s.b - s.t) / (reset_at - s.l)
        s.du = reset_at
      else
        s.dr = 0.0
        s.du = nil
      end
      s.dd = 0.0
    elseif kind == 'refund' then
      local before = s.t
      local after = before + a
      if not (after < s.b) then after = s.b end
      s.t = after
      if s.du then s.dd = s.dd - (after - before) end
    elseif kind == 'take' then
      local n = a
      if n > s.t then n = s.t end
      if n > 0.0 then
        s.t = s.t - n
        if s.du then s.dd = s.dd + n end
      end
    else
      return redis.error_reply('ERR tokenwire bucket script: unknown operation ' .. kind)
    end
  end
end

if #take > 0 then
  local ok = true
  for _, g in ipairs(take) do
    g.s.dirty = true
    settle(g.s, g.t)
    if not (g.s.t >= g.n) then ok = false end
  end
  if ok then
    for _, g in ipairs(take) do
      g.s.t = g.s.t - g.n
      if g.s.du then g.s.dd = g.s.dd + g.n end
    end
  else
    for _, g in ipairs(take) do
      if not (g.s.t >= g.n) then
        local w = wait_until(g.s, g.n, g.t)
        if w > result then result = w end
      end
    end
  end
end

local out = {fmt(now), fmt(result)}
for i = 1, #KEYS do
  local s = S[i]
  local du = ''
  if s.du then du = fmt(s.du) end
  if s.dirty then
    redis.call('HSET', KEYS[i], 'r', fmt(s.r), 'b', fmt(s.b), 't', fmt(s.t), 'l', fmt(s.l),
               'du', du, 'dr', fmt(s.dr), 'dd', fmt(s.dd))
    if ttl > 0 then
      local full = 0.0
      if s.du then full = s.du - now end
      if s.r > 0.0 then
        full = full + (s.b - s.t) / s.r
      elseif s.t < s.b or s.du then
        full = math.huge
      end
      if full >= 315360000 then
        redis.call('PERSIST', KEYS[i])
      else
        redis.call('EXPIRE', KEYS[i], math.ceil(math.max(ttl, full)))
      end
    end
  end
  out[#out + 1] = fmt(s.r)
  out[#out + 1] = fmt(s.b)
  out[#out + 1] = fmt(s.t)
  out[#out + 1] = fmt(s.l)
  out[#out + 1] = du
  out[#out + 1] = fmt(s.dr)
  out[#out + 1] = fmt(s.dd)
end
return out
"""

_BREAKER_WRITE_LUA = r"""
-- tokenwire shared breaker: record a transition. KEYS[1]: the hash.
-- ARGV: state ('open' | 'closed'), open for (seconds), openings in a row, writer, ttl.
local function fmt(x) return string.format('%.17g', x) end
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local key = KEYS[1]
local version = redis.call('HINCRBY', key, 'version', 1)
local keep = tonumber(ARGV[5])
if ARGV[1] == 'open' then
  local open_for = tonumber(ARGV[2])
  redis.call('HINCRBY', key, 'opened', 1)
  redis.call('HSET', key, 'state', 'open', 'until', fmt(now + open_for), 'consecutive', ARGV[3],
             'writer', ARGV[4], 'at', fmt(now))
  if keep > 0 and open_for > keep then keep = open_for end
else
  redis.call('HSET', key, 'state', 'closed', 'until', '', 'consecutive', '0', 'writer', ARGV[4], 'at', fmt(now))
end
if keep > 0 then redis.call('EXPIRE', key, math.ceil(keep)) end
return {version, fmt(now)}
"""

_BREAKER_READ_LUA = r"""
-- tokenwire shared breakers: read records. KEYS: the hashes. Returns the server time,
-- then 7 fields per key (all nil when the record is absent).
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local out = {string.format('%.17g', tonumber(t[1]) + tonumber(t[2]) / 1000000)}
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'version', 'state', 'until', 'consecutive', 'opened', 'writer', 'at')
  for j = 1, 7 do out[#out + 1] = h[j] end
end
return out
"""


class _Script:
    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


_BUCKET_SCRIPT = _Script(_BUCKET_LUA)
_BREAKER_WRITE_SCRIPT = _Script(_BREAKER_WRITE_LUA)
_BREAKER_READ_SCRIPT = _Script(_BREAKER_READ_LUA)


def _describe(client: Any) -> str:
    """Where ``client`` connects, without credentials (for error messages)."""
    try:
        kwargs: dict[str, Any] = client.connection_pool.connection_kwargs
    except AttributeError:
        return type(client).__name__
    if "path" in kwargs:
        return f"redis unix://{kwargs['path']} db {kwargs.get('db', 0)}"
    return f"redis {kwargs.get('host', '?')}:{kwargs.get('port', '?')} db {kwargs.get('db', 0)}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _num(value: float) -> str:
    # repr is the shortest string that reads back as the same double (Lua's strtod too).
    return repr(float(value))


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "local"):
        raise ValueError(f"on_error must be 'raise' or 'local', got {on_error!r}")


def _check_prefix(prefix: str) -> None:
    if not prefix or "{" in prefix or "}" in prefix:
        raise ValueError(f"prefix must be non-empty and without braces, got {prefix!r}")


class _RedisRunner:
    """Runs the scripts on one client: EVALSHA, SCRIPT LOAD on NOSCRIPT, typed errors."""

    def __init__(self, client: RedisClient, owns_client: bool) -> None:
        self.client = client
        self.owns_client = owns_client
        self.where = _describe(client)

    async def run(self, script: _Script, keys: Sequence[str], args: Sequence[str]) -> list[Any]:
        client = self.client
        try:
            try:
                reply = await client.evalsha(script.sha, len(keys), *keys, *args)
            except redis_exceptions.NoScriptError:
                await client.script_load(script.source)
                reply = await client.evalsha(script.sha, len(keys), *keys, *args)
        except _REDIS_ERRORS as exc:
            raise SharedStateError(f"shared state in {self.where} is unavailable: {type(exc).__name__}: {exc}") from exc
        if not isinstance(reply, list):
            raise SharedStateError(f"shared state in {self.where}: unexpected script reply {reply!r}")
        return reply  # pyright: ignore[reportUnknownVariableType]

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


def _cross_slot(error: Optional[BaseException]) -> bool:
    """Whether ``error`` is a cluster's refusal of keys from several hash slots."""
    crossslot = getattr(redis_exceptions, "ClusterCrossSlotError", None)
    if crossslot is not None and isinstance(error, crossslot):
        return True
    return error is not None and "CROSSSLOT" in str(error)


def _is_cluster(client: object) -> bool:
    cluster = getattr(redis_asyncio, "RedisCluster", None)
    return cluster is not None and isinstance(client, cluster)


def _client_from_url(url: str, timeout: float) -> redis_asyncio.Redis:
    try:
        return redis_asyncio.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    except ValueError as exc:
        raise ConfigurationError(f"invalid Redis URL: {exc}") from exc


def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    for task in tuple(tasks):
        task.cancel()  # each leaves the set through its done callback


def _spawn(coro_fn: Any, tasks: set[asyncio.Task[None]]) -> bool:
    """Start ``coro_fn()`` on the running asyncio loop, if any (kept in ``tasks``)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    task: asyncio.Task[None] = loop.create_task(coro_fn())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return True


# ---------------------------------------------------------------------------
# Buckets
# ---------------------------------------------------------------------------

# (rate, burst, tokens, last, drain_until, drain_rate, drain_debt), on the script's clock.
_State = tuple[float, float, float, float, Optional[float], float, float]


class _View(_PureTokenBucket):
    """The local view of a shared bucket: the pure bucket, loaded from a Redis state."""

    __slots__ = ()

    def load(self, state: _State) -> None:
        (
            self._rate,
            self._burst,
            self._tokens,
            self._last,
            self._drain_until,
            self._drain_rate,
            self._drain_debt,
        ) = state


# A queued operation: (kind, a, b, c, time on the caller's clock).
_Op = tuple[str, float, str, str, float]


class RedisTokenBucket:
    """A token bucket whose state lives in Redis (see the module docstring).

    Made by :meth:`RedisBucketStore.bucket`. The ``async`` methods go to Redis; the
    synchronous ones (the :class:`~tokenwire.TokenBucket` interface, for
    :class:`~tokenwire.resilience.AdaptiveRateLimiter`) act on the local view and are
    queued for Redis. ``now`` arguments are on the caller's clock.
    """

    __slots__ = (
        "_anchor",
        "_base",
        "_burst",
        "_last_now",
        "_pending",
        "_rate",
        "_store",
        "_view",
        "created_at",
        "group",
        "key",
        "name",
    )

    def __init__(self, store: RedisBucketStore, group: str, name: str, rate: float, burst: float, now: float) -> None:
        view = _View(rate, burst, now)  # validates like TokenBucket
        self._store = store
        #: The bucket's name within its group, the group, and its Redis key.
        self.name = name
        self.group = group
        self.key = f"{store.prefix}:bucket:{{{group}}}:{name}" if name else f"{store.prefix}:bucket:{{{group}}}"
        self.created_at = float(now)
        self._rate = view.rate
        self._burst = view.burst
        self._view = view
        self._pending: list[_Op] = []
        # The settings before the queued operations (what a missing key is created with).
        self._base = (self._rate, self._burst)
        # (script time, caller time) of the last answer: maps caller times onto the script's clock.
        self._anchor: Optional[tuple[float, float]] = None
        self._last_now = float(now)

    def __repr__(self) -> str:
        return f"RedisTokenBucket(key={self.key!r}, rate={self._rate!r}, burst={self._burst!r})"

    # -- the TokenBucket interface (local view, queued for Redis) ---------------------

    @property
    def rate(self) -> float:
        """The refill rate this process set (tokens per second)."""
        return self._rate

    @property
    def burst(self) -> float:
        """The capacity this process set."""
        return self._burst

    def _at(self, now: float) -> float:
        """``now`` (caller's clock) on the script's clock."""
        if self._store.time_source == "caller":
            return now
        anchor = self._anchor
        return now if anchor is None else anchor[0] + (now - anchor[1])

    def _queue(self, op: _Op) -> None:
        pending = self._pending
        self._last_now = op[4]
        if pending and self._store.time_source == "server":
            # Applied at one server time, adjacent takes/refunds add up and rate changes merge.
            last = pending[-1]
            if last[0] == op[0] and op[0] in ("take", "refund"):
                pending[-1] = (op[0], last[1] + op[1], "", "", op[4])
                self._store._dirty(self)
                return
            if last[0] == op[0] == "set":
                pending[-1] = ("set", op[1], op[2] or last[2], "", op[4])
                self._store._dirty(self)
                return
        pending.append(op)
        self._store._dirty(self)

    def try_acquire(self, tokens: float, now: float) -> float:
        """Take from the local view (queued for Redis as a take of what is there) or
        return its wait. Not a shared grant: use :meth:`acquire` for that."""
        wait = self._view.try_acquire(tokens, self._at(now))
        if wait == 0.0 and tokens > 0.0:
            self._queue(("take", float(tokens), "", "", float(now)))
        return wait

    def set_rate(self, rate: float, now: float, burst: Optional[float] = None) -> None:
        """:meth:`TokenBucket.set_rate <tokenwire.TokenBucket.set_rate>`, queued for Redis."""
        self._view.set_rate(rate, self._at(now), burst)
        self._rate = float(rate)
        if burst is not None:
            self._burst = float(burst)
        self._queue(("set", float(rate), _num(burst) if burst is not None else "", "", float(now)))

    def drain(self, remaining: float, reset_at: float, now: float) -> None:
        """:meth:`TokenBucket.drain <tokenwire.TokenBucket.drain>`, queued for Redis; with
        the store's ``drain_raises=False`` it never raises the level."""
        remaining = float(remaining)
        at = self._at(now)
        if not self._store.drain_raises:
            remaining = min(remaining, self._view.available(at))
        # The reset goes to the script as an instant on the caller's clock, or as a
        # duration from the server's time of application.
        reset = float(reset_at) if self._store.time_source == "caller" else float(reset_at) - float(now)
        self._view.drain(remaining, self._reset_at(reset, at), at)
        self._queue(("drain", remaining, _num(reset), "1" if self._store.drain_raises else "0", float(now)))

    def _reset_at(self, reset: float, at: float) -> float:
        return reset if self._store.time_source == "caller" else at + reset

    def refund(self, tokens: float, now: float) -> None:
        """:meth:`TokenBucket.refund <tokenwire.TokenBucket.refund>`, queued for Redis."""
        self._view.refund(tokens, self._at(now))
        self._queue(("refund", float(tokens), "", "", float(now)))

    def available(self, now: float) -> float:
        """The level of the local view at ``now`` (an estimate; :meth:`level` asks Redis)."""
        return self._view.available(self._at(now))

    # -- Redis ---------------------------------------------------------------------

    async def acquire(self, tokens: float, now: Optional[float] = None) -> float:
        """Atomically take ``tokens`` in Redis and return 0.0, or take nothing and return
        the seconds to wait (:meth:`TokenBucket.try_acquire <tokenwire.TokenBucket.try_acquire>`).

        ``now`` defaults to :func:`time.monotonic` (with ``time_source="caller"`` it is
        required: it is the bucket's time). Queued changes are applied first.
        """
        tokens = float(tokens)
        if not (math.isfinite(tokens) and 0.0 <= tokens <= self._burst):
            raise ValueError(f"tokens must be finite and between 0 and burst ({self._burst!r}), got {tokens!r}")
        return await self._store._take([(self, tokens)], self._store._now(now))

    async def level(self, now: Optional[float] = None) -> float:
        """The tokens available in Redis at ``now``, after applying the queued changes."""
        at = self._store._now(now)
        return await self._store._batch([self], at, [(self, ("avail", 0.0, "", "", at))])

    async def flush(self) -> None:
        """Apply the queued changes in Redis now (and refresh the local view)."""
        await self._store._batch([self], None, [])


class RedisBucketStore:
    """Token buckets in Redis, shared by every process using the same Redis and
    ``prefix``; a :class:`~tokenwire.resilience.limiter.BucketBackend` for
    :class:`~tokenwire.resilience.AdaptiveRateLimiter` (see the module docstring).

    - ``client``: a ``redis.asyncio.Redis`` (or :meth:`from_url`); closed by
      :meth:`aclose` only if ``owns_client``;
    - ``prefix`` (``"tokenwire"``): the key prefix (no braces);
    - ``ttl`` (3600 s): idle lifetime of a bucket key (``0``: never expires);
    - ``time_source`` (``"server"``): Redis ``TIME`` or the callers' ``now``;
    - ``drain_raises`` (``False``): whether header drains may raise the shared level;
    - ``on_error`` (``"raise"``) and ``fallback_seconds`` (1 s): fail closed or open;
    - ``recheck_interval`` (0.5 s): the longest wait :meth:`take` answers — other
      processes' refunds and rate changes wake nobody here, so waiters look again.

    Use one store per process (never share a client across ``fork``); asyncio only.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "tokenwire",
        ttl: float = 3600.0,
        time_source: TimeSource = "server",
        drain_raises: bool = False,
        on_error: OnError = "raise",
        fallback_seconds: float = 1.0,
        recheck_interval: float = 0.5,
        owns_client: bool = False,
    ) -> None:
        _check_prefix(prefix)
        _check_on_error(on_error)
        if not (recheck_interval > 0):
            raise ValueError(f"recheck_interval must be > 0, got {recheck_interval!r}")
        if time_source not in ("server", "caller"):
            raise ValueError(f"time_source must be 'server' or 'caller', got {time_source!r}")
        if not (math.isfinite(ttl) and ttl >= 0):
            raise ValueError(f"ttl must be finite and >= 0, got {ttl!r}")
        if not (math.isfinite(fallback_seconds) and fallback_seconds >= 0):
            raise ValueError(f"fallback_seconds must be finite and >= 0, got {fallback_seconds!r}")
        self.prefix = prefix
        self.ttl = ttl
        self.time_source: TimeSource = time_source
        self.drain_raises = drain_raises
        self.on_error: OnError = on_error
        self.fallback_seconds = fallback_seconds
        self.recheck_interval = recheck_interval
        self._runner = _RedisRunner(client, owns_client)
        self._buckets: dict[str, RedisTokenBucket] = {}
        self._dirty_buckets: dict[str, RedisTokenBucket] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._flushing = False
        # Until when takes use the local view (on_error="local") / background flushes wait.
        self._down_until = -math.inf
        self._quiet_until = -math.inf
        self._warned = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 2.0, **options: Any) -> RedisBucketStore:
        """A store on a new client for ``url`` (``redis://host:port/db``), which it owns;
        ``timeout`` bounds connecting and every command (seconds)."""
        return cls(_client_from_url(url, timeout), owns_client=True, **options)

    def __repr__(self) -> str:
        return f"RedisBucketStore({self._runner.where}, prefix={self.prefix!r}, buckets={len(self._buckets)})"

    async def __aenter__(self) -> RedisBucketStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- buckets -------------------------------------------------------------------

    def bucket(self, key: str, quota: str, rate: float, burst: float, now: Optional[float] = None) -> RedisTokenBucket:
        """The bucket ``quota`` (may be ``""``) of group ``key``: created in Redis with
        ``rate`` and ``burst``, full, on first use — if it already exists there, its
        state and settings are kept.

        A second call with the same ``key``/``quota`` in this store returns the same
        object. ``now`` is the caller's clock time (default :func:`time.monotonic`; with
        ``time_source="caller"`` it is required: the creation time).
        """
        if not key or "{" in key or "}" in key:
            # The key names the shared quota (limiters with an empty one would share by
            # accident) and goes in a hash tag, which braces would break.
            raise ValueError(f"a shared bucket needs a non-empty key without braces, got {key!r}")
        existing = self._buckets.get(f"{key}\0{quota}")
        if existing is not None:
            return existing
        bucket = RedisTokenBucket(self, key, quota, rate, burst, self._now(now))
        self._buckets[f"{key}\0{quota}"] = bucket
        return bucket

    def _now(self, now: Optional[float]) -> float:
        if now is not None:
            return float(now)
        if self.time_source == "caller":
            raise ValueError("with time_source='caller' every call needs an explicit now")
        return time.monotonic()

    def _dirty(self, bucket: RedisTokenBucket) -> None:
        self._dirty_buckets[bucket.key] = bucket
        if not self._flushing and time.monotonic() >= self._quiet_until:
            self._flushing = _spawn(self._background_flush, self._tasks)

    async def _background_flush(self) -> None:
        try:
            while self._dirty_buckets:
                await self.flush()
        except SharedStateError as exc:
            # Left queued for the next take or flush; no new attempt from here for a while.
            self._quiet_until = time.monotonic() + max(self.fallback_seconds, 1.0)
            if not self._warned:
                self._warned = True
                logger.warning("could not write rate-limit changes to Redis (kept queued): %s", exc)
        finally:
            self._flushing = False

    async def flush(self) -> None:
        """Apply every queued change in Redis now (one round trip per bucket group)."""
        groups: dict[str, list[RedisTokenBucket]] = {}
        for bucket in self._dirty_buckets.values():
            groups.setdefault(bucket.group, []).append(bucket)
        # Each batch takes its buckets off the dirty list (and puts them back if it fails).
        for members in groups.values():
            await self._batch(members, None, [])

    # -- the BucketBackend interface -------------------------------------------------

    async def take(self, grants: Sequence[tuple[RateBucket, float]], now: float) -> float:
        """Atomically take every ``(bucket, amount)`` (each capped at the bucket's burst
        in Redis) and return 0.0, or take nothing and return the seconds to wait.

        Queued changes of these buckets are applied first, in the same script call. A
        wait is at most ``recheck_interval``: asking again then is cheap, and capacity
        another process gave back is found without waiting out the full refill.
        """
        return min(await self._take(grants, now), self.recheck_interval)

    async def _take(self, grants: Sequence[tuple[RateBucket, float]], now: float) -> float:
        buckets: list[RedisTokenBucket] = []
        ops: list[tuple[RedisTokenBucket, _Op]] = []
        for bucket, amount in grants:
            if not isinstance(bucket, RedisTokenBucket) or bucket._store is not self:
                raise TypeError(f"{bucket!r} is not a bucket of this store")
            if buckets and bucket.group != buckets[0].group:
                raise ValueError("an atomic take spans the buckets of one group")
            if bucket not in buckets:
                buckets.append(bucket)
            ops.append((bucket, ("acq", float(amount), "", "", now)))
        if not ops:
            return 0.0
        if time.monotonic() < self._down_until:
            return self._take_locally(ops, now)
        try:
            return await self._batch(buckets, now, ops)
        except SharedStateError as exc:
            if self.on_error == "raise":
                raise
            self._fall_back(exc)
            return self._take_locally(ops, now)

    def _fall_back(self, exc: SharedStateError) -> None:
        self._down_until = time.monotonic() + self.fallback_seconds
        if not self._warned:
            self._warned = True
            logger.warning("rate limits fall back to this process's view until Redis answers: %s", exc)

    def _take_locally(self, ops: list[tuple[RedisTokenBucket, _Op]], now: float) -> float:
        """The all-or-nothing take on the local views (``on_error="local"``)."""
        short: list[tuple[RedisTokenBucket, float]] = []
        for bucket, op in ops:
            need = min(op[1], bucket._view.burst)
            if bucket.available(now) < need:
                short.append((bucket, need))
        if short:
            return max(bucket._view.try_acquire(need, bucket._at(now)) for bucket, need in short)
        for bucket, op in ops:
            bucket.try_acquire(min(op[1], bucket._view.burst), now)  # queued as a take for Redis
        return 0.0

    # -- the script call -------------------------------------------------------------

    async def _batch(
        self,
        buckets: list[RedisTokenBucket],
        now: Optional[float],
        extra: Sequence[tuple[RedisTokenBucket, _Op]],
    ) -> float:
        """One script call: the queued operations of ``buckets``, then ``extra``.

        ``now`` is the caller's time of the call (``None``: a background flush). Returns
        the script's result (the wait of an ``acq`` group, the level of an ``avail``).
        """
        group = buckets[0].group
        lock = self._locks.get(group)
        if lock is None:
            lock = self._locks[group] = anyio.Lock()
        async with lock:
            caller = self.time_source == "caller"
            index = {bucket.key: i for i, bucket in enumerate(buckets, 1)}
            keys = [bucket.key for bucket in buckets]
            sent: list[tuple[RedisTokenBucket, list[_Op], tuple[float, float]]] = []
            ops: list[tuple[RedisTokenBucket, _Op]] = []
            for bucket in buckets:
                pending, bucket._pending = bucket._pending, []
                base, bucket._base = bucket._base, (bucket._rate, bucket._burst)
                self._dirty_buckets.pop(bucket.key, None)
                sent.append((bucket, pending, base))
                ops.extend((bucket, op) for op in pending)
            ops.extend(extra)
            if caller:
                times = [op[4] for _, op in ops] + [b.created_at for b in buckets]
                batch_time = _num(now if now is not None else min(times))
            else:
                batch_time = ""
            args = [_num(self.ttl), batch_time]
            for bucket, _, (rate, burst) in sent:
                # A missing key is created with the settings these operations start from.
                args += [_num(rate), _num(burst), _num(bucket.created_at) if caller else ""]
            for bucket, (kind, a, b, c, t) in ops:
                args += [kind, str(index[bucket.key]), _num(a), b, c, _num(t) if caller else ""]
            try:
                reply = await self._runner.run(_BUCKET_SCRIPT, keys, args)
            except SharedStateError:
                # Not applied (or unknown, on a timeout): requeue ahead of newer changes.
                # A timed-out batch may thus apply twice; losing it would be worse.
                for bucket, pending, base in sent:
                    bucket._base = base
                    if pending:
                        bucket._pending[:0] = pending
                        self._dirty_buckets[bucket.key] = bucket
                raise
            self._down_until = self._quiet_until = -math.inf
            self._warned = False
            server_now = float(_text(reply[0]))
            result = float(_text(reply[1]))
            for i, bucket in enumerate(buckets):
                fields = [_text(v) for v in reply[2 + 7 * i : 9 + 7 * i]]
                state: _State = (
                    float(fields[0]),
                    float(fields[1]),
                    float(fields[2]),
                    float(fields[3]),
                    float(fields[4]) if fields[4] else None,
                    float(fields[5]),
                    float(fields[6]),
                )
                self._reload(bucket, state, server_now, now)
            return result

    def _reload(self, bucket: RedisTokenBucket, state: _State, server_now: float, now: Optional[float]) -> None:
        """Load Redis's answer into the view, then replay what was queued since."""
        if now is not None:
            bucket._anchor = (server_now, now)
        elif bucket._anchor is None:
            bucket._anchor = (server_now, bucket._last_now)
        bucket._view.load(state)
        for kind, a, b, _c, t in bucket._pending:
            at = bucket._at(t)
            if kind == "take":
                bucket._view.try_acquire(min(a, bucket._view.available(at)), at)
            elif kind == "refund":
                bucket._view.refund(a, at)
            elif kind == "set":
                bucket._view.set_rate(a, at, float(b) if b else None)
            else:  # drain
                bucket._view.drain(a, bucket._reset_at(float(b), at), at)

    # -- lifecycle -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Apply what is still queued (failures are logged) and close an owned client.

        The store stays usable: its buckets keep their views, and the next call
        reconnects (``redis.asyncio`` clients reopen their connections on use)."""
        try:
            if self._dirty_buckets:
                await self.flush()
        except SharedStateError as exc:
            logger.warning("rate-limit changes not written to Redis at close: %s", exc)
        finally:
            _cancel(self._tasks)
            # A flush task cancelled before it ran never clears the flag itself.
            self._flushing = False
            await self._runner.aclose()


# ---------------------------------------------------------------------------
# Breakers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedBreakerRecord:
    """A breaker's shared record, as read from Redis.

    ``state`` is :attr:`BreakerState.OPEN` or :attr:`BreakerState.CLOSED` (half-open is
    per process); ``open_for`` the seconds of the open interval left at the read
    (``None`` when closed; ``<= 0`` once it ended); ``consecutive_opens`` the openings
    in a row of the last writer; ``opened_count`` the openings written by every process
    over the record's life; ``version`` increases with every write; ``writer`` names
    the process (``host:pid:…``); ``written_at`` is on the server's clock (Unix seconds).
    """

    key: str
    state: BreakerState
    open_for: Optional[float]
    consecutive_opens: int
    opened_count: int
    version: int
    writer: str
    written_at: float


# A transition to write: (state, seconds open, openings in a row).
_Write = tuple[str, float, int]


class RedisBreakerStore:
    """Circuit-breaker state shared through Redis (see the module docstring).

    :meth:`bind` a :class:`~tokenwire.resilience.CircuitBreaker` (one per key per
    store): its openings and recoveries are written to Redis, and :meth:`sync` /
    :meth:`acquire` / :meth:`run` adopt the ones other processes wrote.

    - ``client``: a ``redis.asyncio.Redis`` (or :meth:`from_url`);
    - ``prefix`` (``"tokenwire"``); ``ttl`` (3600 s): records expire that long after
      their last write (an open one not before its interval ends; ``0``: never);
    - ``cache_ttl`` (0.25 s): how old a breaker's last read may be before :meth:`sync`
      reads it again;
    - ``on_error`` (``"raise"``): fail closed (raise :class:`SharedStateError`) or open
      (``"local"``: log, keep the local state, try Redis again after ``fallback_seconds``).
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "tokenwire",
        ttl: float = 3600.0,
        cache_ttl: float = 0.25,
        on_error: OnError = "raise",
        fallback_seconds: float = 1.0,
        owns_client: bool = False,
    ) -> None:
        _check_prefix(prefix)
        _check_on_error(on_error)
        for name, value in (("ttl", ttl), ("cache_ttl", cache_ttl), ("fallback_seconds", fallback_seconds)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        self.prefix = prefix
        self.ttl = ttl
        self.cache_ttl = cache_ttl
        self.on_error: OnError = on_error
        self.fallback_seconds = fallback_seconds
        #: Names this process in the records it writes.
        self.writer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._runner = _RedisRunner(client, owns_client)
        # Reads one key per script call (a Redis Cluster: see _read_records).
        self._per_key = _is_cluster(client)
        self._breakers: dict[str, CircuitBreaker] = {}
        self._listeners: dict[str, Any] = {}
        self._pending: dict[str, _Write] = {}
        self._seen: dict[str, int] = {}
        self._read_at: dict[str, float] = {}
        self._adopting = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._flushing = False
        self._write_lock: Optional[anyio.Lock] = None
        # Until when reads are skipped (on_error="local") / background writes wait.
        self._down_until = -math.inf
        self._quiet_until = -math.inf
        self._warned = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 2.0, **options: Any) -> RedisBreakerStore:
        """A store on a new client for ``url``, which it owns (``timeout`` in seconds)."""
        return cls(_client_from_url(url, timeout), owns_client=True, **options)

    def __repr__(self) -> str:
        return f"RedisBreakerStore({self._runner.where}, prefix={self.prefix!r}, breakers={len(self._breakers)})"

    async def __aenter__(self) -> RedisBreakerStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def redis_key(self, key: str) -> str:
        """The Redis key of the record of breaker ``key``."""
        return f"{self.prefix}:breaker:{key}"

    # -- binding -------------------------------------------------------------------

    def bind(self, breaker: CircuitBreaker) -> None:
        """Share ``breaker``'s openings and recoveries under its ``key``."""
        key = breaker.key
        if key in self._breakers:
            raise ValueError(f"a breaker with key {key!r} is already bound to this store")

        def on_change(_key: str, _old: BreakerState, new: BreakerState, _at: float) -> None:
            if self._adopting:
                return  # the change came from Redis: do not write it back
            if new is BreakerState.OPEN:
                retry_at = breaker._retry_at
                open_for = retry_at - breaker.clock.now() if retry_at is not None else 0.0
                self._pending[key] = ("open", max(open_for, 0.0), breaker._consecutive_opens)
            elif new is BreakerState.CLOSED:
                self._pending[key] = ("closed", 0.0, 0)
            else:
                return  # half-open is per process
            if not self._flushing and time.monotonic() >= self._quiet_until:
                self._flushing = _spawn(self._background_flush, self._tasks)

        breaker.add_listener(on_change)
        self._breakers[key] = breaker
        self._listeners[key] = on_change

    def unbind(self, breaker: CircuitBreaker) -> None:
        """Stop sharing ``breaker`` (what it still had queued is dropped)."""
        key = breaker.key
        if self._breakers.get(key) is not breaker:
            raise ValueError(f"{breaker!r} is not bound to this store")
        breaker.remove_listener(self._listeners.pop(key))
        del self._breakers[key]
        for table in (self._pending, self._seen, self._read_at):
            table.pop(key, None)

    @contextmanager
    def _adopt(self) -> Generator[None, None, None]:
        self._adopting = True
        try:
            yield
        finally:
            self._adopting = False

    # -- writing -------------------------------------------------------------------

    async def _background_flush(self) -> None:
        try:
            while self._pending:
                await self.flush()
        except SharedStateError as exc:
            self._quiet_until = time.monotonic() + max(self.fallback_seconds, 1.0)
            if not self._warned:
                self._warned = True
                logger.warning("could not write circuit-breaker state to Redis (kept queued): %s", exc)
        finally:
            self._flushing = False

    async def flush(self, *keys: str) -> None:
        """Write the queued transitions (of ``keys``, default all) to Redis now."""
        if self._write_lock is None:
            self._write_lock = anyio.Lock()
        # One write at a time: two connections could otherwise reorder a key's transitions.
        async with self._write_lock:
            for key in keys or tuple(self._pending):
                write = self._pending.pop(key, None)
                if write is None:
                    continue
                state, open_for, consecutive = write
                args = [state, _num(open_for), str(consecutive), self.writer, _num(self.ttl)]
                try:
                    reply = await self._runner.run(_BREAKER_WRITE_SCRIPT, [self.redis_key(key)], args)
                except SharedStateError:
                    self._pending.setdefault(key, write)  # unless a newer transition came meanwhile
                    raise
                self._seen[key] = max(self._seen.get(key, 0), int(reply[0]))
                self._down_until = self._quiet_until = -math.inf
                self._warned = False

    # -- reading -------------------------------------------------------------------

    async def read(self, key: str) -> Optional[SharedBreakerRecord]:
        """The shared record of breaker ``key`` (``None`` if there is none)."""
        reply = await self._runner.run(_BREAKER_READ_SCRIPT, [self.redis_key(key)], [])
        return self._parse(key, reply[1:8], float(_text(reply[0])))

    @staticmethod
    def _parse(key: str, fields: Sequence[Any], server_now: float) -> Optional[SharedBreakerRecord]:
        if fields[0] is None or fields[1] is None:
            return None
        version, state, until, consecutive, opened, writer, at = (_text(v) if v is not None else "" for v in fields)
        is_open = state == "open"
        return SharedBreakerRecord(
            key=key,
            state=BreakerState.OPEN if is_open else BreakerState.CLOSED,
            open_for=float(until) - server_now if is_open and until else None,
            consecutive_opens=int(consecutive or 0),
            opened_count=int(opened or 0),
            version=int(version),
            writer=writer,
            written_at=float(at) if at else server_now,
        )

    async def sync(self, *breakers: CircuitBreaker, force: bool = False) -> None:
        """Write the queued transitions of ``breakers`` (default: every bound one), then
        adopt the newer records other processes wrote — reading only breakers whose
        last read is older than ``cache_ttl``, unless ``force``.

        Raises :class:`SharedStateError` when Redis fails and ``on_error="raise"``.
        """
        targets = breakers or tuple(self._breakers.values())
        for breaker in targets:
            if self._breakers.get(breaker.key) is not breaker:
                raise ValueError(f"{breaker!r} is not bound to this store")
        now = time.monotonic()
        if now < self._down_until:
            return  # falling back to the local state for a while (on_error="local")
        try:
            pending = [b.key for b in targets if b.key in self._pending]
            if pending:
                await self.flush(*pending)
            due = [b for b in targets if force or now - self._read_at.get(b.key, -math.inf) >= self.cache_ttl]
            if not due:
                return
            records = await self._read_records([self.redis_key(b.key) for b in due])
            self._down_until = -math.inf
            self._warned = False
        except SharedStateError as exc:
            if self.on_error == "raise":
                raise
            self._down_until = time.monotonic() + self.fallback_seconds
            if not self._warned:
                self._warned = True
                logger.warning("circuit breakers fall back to this process's state until Redis answers: %s", exc)
            return
        for breaker, (fields, server_now) in zip(due, records):
            self._read_at[breaker.key] = now
            record = self._parse(breaker.key, fields, server_now)
            if record is not None:
                self._apply(breaker, record)

    async def _read_records(self, keys: Sequence[str]) -> list[tuple[Sequence[Any], float]]:
        """``(7 fields, server time)`` per key: one script call for all of them, unless
        the server is a Redis Cluster, whose scripts take keys of one hash slot only
        (each breaker's hash is in a slot of its own): then one call per key."""
        if len(keys) > 1 and not self._per_key:
            try:
                reply = await self._runner.run(_BREAKER_READ_SCRIPT, keys, [])
            except SharedStateError as exc:
                if not _cross_slot(exc.__cause__):
                    raise
                self._per_key = True  # a cluster (or a proxy to one) that was not recognised
            else:
                server_now = float(_text(reply[0]))
                return [(reply[1 + 7 * i : 8 + 7 * i], server_now) for i in range(len(keys))]
        records: list[tuple[Sequence[Any], float]] = []
        for key in keys:
            reply = await self._runner.run(_BREAKER_READ_SCRIPT, [key], [])
            records.append((reply[1:8], float(_text(reply[0]))))
        return records

    def _apply(self, breaker: CircuitBreaker, record: SharedBreakerRecord) -> None:
        key = breaker.key
        if record.version <= self._seen.get(key, 0):
            return  # already seen (or written by us)
        self._seen[key] = record.version
        if key in self._pending:
            return  # a newer local transition is on its way and will win
        if record.state is BreakerState.OPEN:
            if record.open_for is None or record.open_for <= 0.0:
                return  # its interval is over: every process probes on its own
            until = breaker.clock.now() + record.open_for
            current = breaker.retry_at  # None unless open (turns half-open if due)
            if current is not None and current >= until:
                return
            with self._adopt():
                breaker.trip(
                    until=until, consecutive_opens=max(record.consecutive_opens, breaker._consecutive_opens, 1)
                )
        elif breaker.state is not BreakerState.CLOSED:
            with self._adopt():
                breaker.reset()

    async def acquire(self, breaker: CircuitBreaker) -> BreakerPermit:
        """:meth:`sync` ``breaker`` (cached), then :meth:`CircuitBreaker.acquire`."""
        await self.sync(breaker)
        return breaker.acquire()

    async def run(self, interval: Optional[float] = None) -> None:
        """Keep every bound breaker in step with Redis: :meth:`sync` every ``interval``
        seconds (default ``cache_ttl``) until cancelled. Run it in a task group. Redis
        failures are logged, never raised."""
        period = self.cache_ttl if interval is None else interval
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"interval must be finite and > 0, got {period!r}")
        while True:
            try:
                await self.sync(force=True)
            except SharedStateError as exc:
                if not self._warned:
                    self._warned = True
                    logger.warning("circuit-breaker state not synchronised with Redis: %s", exc)
            await anyio.sleep(period)

    async def disconnect(self) -> None:
        """Write what is still queued (failures are logged) and close an owned client,
        keeping every breaker bound: the next call reconnects (``redis.asyncio``
        clients reopen their connections on use). What a manager does on ``aclose``."""
        try:
            if self._pending:
                await self.flush()
        except SharedStateError as exc:
            logger.warning("circuit-breaker changes not written to Redis at close: %s", exc)
        finally:
            _cancel(self._tasks)
            # A flush task cancelled before it ran never clears the flag itself.
            self._flushing = False
            await self._runner.aclose()

    async def aclose(self) -> None:
        """:meth:`disconnect`, then unbind every breaker."""
        try:
            await self.disconnect()
        finally:
            for breaker in tuple(self._breakers.values()):
                self.unbind(breaker)


if TYPE_CHECKING:
    # The limiter's interfaces, checked statically.
    _BACKEND: type[BucketBackend] = RedisBucketStore
    _BUCKET: type[RateBucket] = RedisTokenBucket
