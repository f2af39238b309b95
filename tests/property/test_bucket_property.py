"""TokenBucket properties (hypothesis): native/pure bit-identity and invariants.

Operation sequences move an injected clock by random steps, including zero and
negative steps (callers may pass stale times). Invariants run on the public backend;
the parity test compares ``tokenwire._native`` with ``tokenwire._pure`` directly.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Optional, Union

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.conftest import PURE, parity_only_in_native_run, require_native

import tokenwire

# An operation: (name, clock step, arguments relative to the bucket).
Op = tuple[str, float, tuple[float, ...]]


def _nice(lo: int, hi: int) -> st.SearchStrategy[float]:
    # Values with short binary expansions, where exact expectations are likely to bite.
    return st.integers(lo * 8, hi * 8).map(lambda i: i / 8)


def _real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


rates = st.one_of(st.just(0.0), _nice(0, 50), _real(0.0, 1e4), _real(1e-6, 1e-2))
bursts = st.one_of(_nice(1, 100), _real(1e-3, 1e6))
starts = st.one_of(st.just(0.0), _nice(0, 1000), _real(-1e6, 1e6))
steps = st.one_of(st.just(0.0), _nice(-3, 20), _real(-5.0, 100.0), _real(0.0, 1e-6))
fractions = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), _real(0.0, 1.0))

acquire_ops = st.tuples(st.just("acquire"), steps, st.tuples(fractions))
all_ops = st.one_of(
    acquire_ops,
    acquire_ops,
    st.tuples(st.just("available"), steps, st.tuples(_real(0.0, 50.0))),
    st.tuples(st.just("refund"), steps, st.tuples(fractions)),
    # (remaining as a fraction of burst, reset_at - now)
    st.tuples(st.just("drain"), steps, st.tuples(_real(-0.2, 1.2), st.one_of(_nice(-2, 30), _real(-5.0, 300.0)))),
    # (new rate, new burst as a multiple of the old or <= 0 for "keep")
    st.tuples(st.just("set_rate"), steps, st.tuples(rates, st.one_of(st.just(0.0), _real(0.1, 3.0)))),
)


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


Outcome = tuple[str, Union[bytes, str, None]]


def _apply(bucket: Any, op: Op, now: float) -> Outcome:
    """Run one op at ``now``; return a comparable outcome (exact bits or error type)."""
    name, _, args = op
    try:
        if name == "acquire":
            return ("ok", _bits(bucket.try_acquire(args[0] * bucket.burst, now)))
        if name == "available":
            return ("ok", _bits(bucket.available(now + args[0])))
        if name == "refund":
            bucket.refund(args[0] * bucket.burst, now)
        elif name == "drain":
            bucket.drain(args[0] * bucket.burst, now + args[1], now)
        else:
            new_burst = args[1] * bucket.burst if args[1] > 0 else None
            bucket.set_rate(args[0], now, new_burst)
    except (ValueError, TypeError) as exc:
        return ("err", type(exc).__name__)
    return ("ok", None)


@given(rates, bursts, starts, st.lists(all_ops, max_size=40), st.lists(_real(-1.0, 1.0), max_size=3))
def test_native_and_pure_are_bit_identical(
    rate: float, burst: float, start: float, ops: list[Op], bad_requests: list[float]
) -> None:
    parity_only_in_native_run()
    native = require_native()
    n_bucket = native.TokenBucket(rate, burst, start)
    p_bucket = PURE.TokenBucket(rate, burst, start)
    now = start
    for op in ops:
        now += op[1]
        assert _apply(n_bucket, op, now) == _apply(p_bucket, op, now), (op, now)
    # Invalid requests fail the same way on both.
    for x in bad_requests:
        for b in (n_bucket, p_bucket):
            with pytest.raises(ValueError):
                b.try_acquire(b.burst + 1.0 + abs(x), now)
            with pytest.raises(ValueError):
                b.try_acquire(-1e-9 - abs(x), now)
            with pytest.raises(ValueError):
                b.refund(-1e-9 - abs(x), now)
            with pytest.raises(ValueError):
                b.set_rate(x if x < 0 else math.inf, now)
    for t in (now - 1.0, now, now + 0.5, now + 1e3):
        assert _bits(n_bucket.available(t)) == _bits(p_bucket.available(t))
    assert repr(n_bucket) == repr(p_bucket)
    assert (n_bucket.rate, n_bucket.burst) == (p_bucket.rate, p_bucket.burst)


@given(rates, bursts, starts, st.lists(all_ops, max_size=40), st.data())
def test_level_stays_within_bounds_and_never_falls_with_time(
    rate: float, burst: float, start: float, ops: list[Op], data: st.DataObject
) -> None:
    b = tokenwire.TokenBucket(rate, burst, start)
    now = start
    for op in ops:
        now += op[1]
        _apply(b, op, now)
        level = b.available(now)
        assert 0.0 <= level <= b.burst
        later = b.available(now + data.draw(_real(0.0, 100.0), label="later"))
        assert level <= later <= b.burst


@given(rates, bursts, starts, st.lists(all_ops, max_size=40), st.lists(st.sampled_from([None, "exact", "margin"])))
def test_waiting_the_returned_time_always_suffices(
    rate: float, burst: float, start: float, ops: list[Op], retries: list[Optional[str]]
) -> None:
    # Drains, refunds and rate changes included: whatever the history, a denied
    # request retried at now + wait is granted (the sum exactly, or with the margin
    # a caller's sleep adds).
    b = tokenwire.TokenBucket(rate, burst, start)
    now = start
    for i, op in enumerate(ops):
        now += op[1]
        if op[0] != "acquire":
            _apply(b, op, now)
            continue
        tokens = op[2][0] * b.burst
        wait = b.try_acquire(tokens, now)
        assert wait >= 0.0
        retry = retries[i] if i < len(retries) else None
        if wait == 0.0 or math.isinf(wait) or retry is None:
            continue
        now = now + wait if retry == "exact" else now + wait * (1 + 1e-12) + 1e-12
        assert b.try_acquire(tokens, now) == 0.0


def _replay(rate: float, burst: float, start: float, history: list[tuple[float, float]]) -> Any:
    b = tokenwire.TokenBucket(rate, burst, start)
    for tokens, now in history:
        b.try_acquire(tokens, now)
    return b


@given(rates, bursts, starts, st.lists(acquire_ops, min_size=1, max_size=40), st.lists(st.booleans(), max_size=40))
def test_grants_never_exceed_burst_plus_refill(
    rate: float, burst: float, start: float, ops: list[Op], retry: list[bool]
) -> None:
    b = tokenwire.TokenBucket(rate, burst, start)
    now = start
    clock = start  # the bucket's own clock: stale times count as no elapsed time
    grants: list[tuple[float, float]] = []
    history: list[tuple[float, float]] = []

    def acquire(tokens: float, at: float) -> float:
        nonlocal clock
        clock = max(clock, at)
        wait = b.try_acquire(tokens, at)
        history.append((tokens, at))
        if wait == 0.0:
            grants.append((clock, tokens))
        return wait

    for i, (_, step, (fraction,)) in enumerate(ops):
        now += step
        tokens = fraction * burst
        expected_need = tokens - b.available(now)
        snapshot = list(history)
        wait = acquire(tokens, now)
        assert wait >= 0.0
        if wait == 0.0:
            continue
        # Denied: the wait is what the missing tokens take at the rate, measured from the
        # caller's now (up to the few ulps try_acquire adds so that now + wait suffices).
        if rate == 0.0:
            assert wait == math.inf
            continue
        expected = (clock - now) + expected_need / rate
        if math.isinf(expected):  # a subnormal rate: the wait overflows
            assert wait == math.inf
            continue
        slack = 64 * math.ulp(max(abs(now), expected))
        assert expected * (1 - 1e-9) - slack <= wait <= expected * (1 + 1e-9) + slack
        # It is not grossly more than needed: a replayed twin is denied a bit earlier.
        if wait * 1e-6 > 1e6 * slack and expected_need > 1e-6 * burst:
            twin = _replay(rate, burst, start, snapshot)
            assert twin.try_acquire(tokens, now + wait * (1 - 1e-6)) > 0.0
        if i < len(retry) and retry[i]:
            # Retrying at exactly now + wait (the sum the caller computes) succeeds; the
            # brief's tolerance (now + wait*(1+1e-12) + 1e-12) is implied by monotonicity.
            now = now + wait
            assert acquire(tokens, now) == 0.0
    for i, (t0, _) in enumerate(grants):
        total = 0.0
        for t1, tokens in grants[i:]:
            total += tokens
            bound = burst + rate * (t1 - t0)
            assert total <= bound + 1e-9 * (1.0 + bound), (t0, t1, total, bound)


@given(
    rates, bursts, starts, st.lists(all_ops, max_size=30), _real(0.0, 1.2), st.one_of(_nice(0, 40), _real(1e-9, 1e4))
)
def test_untouched_drain_is_full_exactly_at_reset(
    rate: float, burst: float, start: float, ops: list[Op], fraction: float, span: float
) -> None:
    b = tokenwire.TokenBucket(rate, burst, start)
    now = start
    clock = start
    for op in ops:
        now += op[1]
        clock = max(clock, now)
        _apply(b, op, now)
    reset_at = clock + span
    assume(reset_at > clock)
    remaining = fraction * b.burst
    b.drain(remaining, reset_at, clock)
    assert b.available(clock) == min(remaining, b.burst)
    assert b.available(reset_at) == b.burst
    assert b.try_acquire(b.burst, reset_at) == 0.0


@given(rates, bursts, starts, _real(0.0, 1.0), _real(1e-3, 1e3), _real(0.0, 1e3))
def test_after_reset_the_configured_rate_applies(
    rate: float, burst: float, start: float, fraction: float, span: float, after: float
) -> None:
    b = tokenwire.TokenBucket(rate, burst, start)
    b.drain(fraction * burst, start + span, start)
    reset_at = start + span
    assume(reset_at > start)
    assert b.try_acquire(burst, reset_at) == 0.0
    later = reset_at + after
    assert b.available(later) == min(burst, (later - reset_at) * rate)
