"""TokenBucket transitions with explicit times (no sleeping, no real clock).

Runs on the public backend (native in the normal run, the pure twin with
``TOKENWIRE_PURE_PYTHON=1``).
"""

from __future__ import annotations

import math

import pytest

import tokenwire
from tokenwire import TokenBucket


def test_public_class_is_the_backends() -> None:
    expected = "tokenwire._native" if tokenwire.backend() == "native" else "tokenwire._pure.bucket"
    assert TokenBucket.__module__ == expected


# ---------------------------------------------------------------------------
# Basics
# ---------------------------------------------------------------------------


def test_starts_full() -> None:
    b = TokenBucket(2.0, 10.0)
    assert b.available(0.0) == 10.0
    assert b.try_acquire(10.0, 0.0) == 0.0
    assert b.available(0.0) == 0.0


def test_start_time_is_the_first_settlement() -> None:
    b = TokenBucket(1.0, 5.0, now=100.0)
    assert b.try_acquire(5.0, 100.0) == 0.0
    assert b.available(101.0) == 1.0


def test_properties_and_repr() -> None:
    b = TokenBucket(2, 10)  # ints are accepted and become floats
    assert b.rate == 2.0
    assert b.burst == 10.0
    assert isinstance(b.rate, float)
    assert repr(b) == "TokenBucket(rate=2.0, burst=10.0)"
    assert repr(TokenBucket(1e20, 1e-05)) == "TokenBucket(rate=1e+20, burst=1e-05)"
    assert repr(TokenBucket(0.1, 3.5)) == "TokenBucket(rate=0.1, burst=3.5)"


def test_properties_are_read_only() -> None:
    b = TokenBucket(1.0, 1.0)
    with pytest.raises(AttributeError):
        b.rate = 3.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        b.burst = 3.0  # type: ignore[misc]


def test_zero_tokens_always_granted() -> None:
    b = TokenBucket(0.0, 1.0)
    b.try_acquire(1.0, 0.0)
    assert b.try_acquire(0.0, 0.0) == 0.0


# ---------------------------------------------------------------------------
# Refill and waits
# ---------------------------------------------------------------------------


def test_exact_wait_times() -> None:
    b = TokenBucket(2.0, 10.0)
    b.try_acquire(10.0, 0.0)
    assert b.try_acquire(4.0, 0.0) == 2.0
    assert b.try_acquire(4.0, 0.5) == 1.5
    assert b.try_acquire(4.0, 2.0) == 0.0
    assert b.available(2.0) == 0.0


def test_denial_takes_nothing() -> None:
    b = TokenBucket(1.0, 10.0)
    b.try_acquire(7.0, 0.0)
    assert b.try_acquire(5.0, 0.0) == 2.0
    assert b.available(0.0) == 3.0
    assert b.try_acquire(3.0, 0.0) == 0.0


def test_wait_works_at_exactly_now_plus_wait_with_inexact_floats() -> None:
    # 0.1, 1/3 and 0.7 are inexact in binary; the returned wait must still suffice
    # when the caller adds it to its own now.
    for rate, burst, now, want in [(3.0, 1.0, 0.1, 0.7), (0.3, 7.0, 1234.567, 6.9), (1 / 3, 2.0, 1e6, 1.1)]:
        b = TokenBucket(rate, burst, now)
        b.try_acquire(burst, now)
        wait = b.try_acquire(want, now)
        assert 0.0 < wait < math.inf
        assert wait == pytest.approx(want / rate, rel=1e-9)
        assert b.try_acquire(want, now + wait) == 0.0


def test_denial_never_returns_zero() -> None:
    # The analytic wait underflows to 0.0 here; a denial must still say "wait".
    b = TokenBucket(1e300, 1.0, now=1e6)
    b.try_acquire(1.0, 1e6)
    wait = b.try_acquire(1e-300, 1e6)
    assert wait > 0.0
    assert b.try_acquire(1e-300, 1e6 + wait) == 0.0


def test_refill_is_capped_at_burst() -> None:
    b = TokenBucket(2.0, 10.0)
    b.try_acquire(6.0, 0.0)
    assert b.available(1.0) == 6.0
    assert b.available(2.0) == 8.0
    assert b.available(1000.0) == 10.0
    assert b.try_acquire(10.0, 1000.0) == 0.0
    assert b.try_acquire(0.5, 1000.0) == 0.25


def test_non_monotonic_now_is_no_elapsed_time() -> None:
    b = TokenBucket(1.0, 10.0)
    b.try_acquire(10.0, 5.0)
    # An earlier time neither refills negatively nor rewinds the bucket's clock.
    assert b.available(3.0) == 0.0
    assert b.try_acquire(0.0, 1.0) == 0.0
    assert b.available(6.0) == 1.0
    # The wait is measured from the caller's (stale) now: 2 s to catch up + 1 s.
    assert b.try_acquire(1.0, 3.0) == 3.0


def test_stale_grant_uses_the_bucket_clock() -> None:
    b = TokenBucket(1.0, 10.0)
    b.try_acquire(10.0, 5.0)
    assert b.try_acquire(2.0, 8.0) == 0.0  # 3 refilled by t=8, 1 left
    assert b.try_acquire(1.0, 4.0) == 0.0  # stale: no refill, takes the last one
    assert b.available(8.0) == 0.0
    assert b.available(9.0) == 1.0


def test_zero_rate_never_refills() -> None:
    b = TokenBucket(0.0, 3.0)
    assert b.try_acquire(2.0, 0.0) == 0.0
    assert b.try_acquire(2.0, 1e9) == math.inf
    assert b.available(1e12) == 1.0


def test_available_does_not_change_state() -> None:
    plain = TokenBucket(0.7, 5.0, 0.3)
    probed = TokenBucket(0.7, 5.0, 0.3)
    for b in (plain, probed):
        b.try_acquire(4.9, 0.3)
    for t in (0.35, 1.1, 2.9, 0.2):
        probed.available(t)
    assert plain.try_acquire(3.3, 4.1) == probed.try_acquire(3.3, 4.1)
    assert plain.available(7.77) == probed.available(7.77)


# ---------------------------------------------------------------------------
# set_rate
# ---------------------------------------------------------------------------


def test_set_rate_settles_at_the_old_rate_first() -> None:
    b = TokenBucket(1.0, 10.0)
    b.try_acquire(10.0, 0.0)
    b.set_rate(3.0, 2.0)
    assert b.rate == 3.0
    assert b.available(2.0) == 2.0
    assert b.available(3.0) == 5.0
    assert b.try_acquire(8.0, 3.0) == 1.0


def test_set_rate_to_zero_and_back() -> None:
    b = TokenBucket(2.0, 10.0)
    b.try_acquire(10.0, 0.0)
    b.set_rate(0.0, 1.0)
    assert b.available(100.0) == 2.0
    assert b.try_acquire(3.0, 100.0) == math.inf
    b.set_rate(1.0, 100.0)
    assert b.try_acquire(3.0, 100.0) == 1.0


def test_lowering_burst_caps_tokens_raising_adds_none() -> None:
    b = TokenBucket(1.0, 10.0)
    b.set_rate(1.0, 0.0, burst=4.0)
    assert b.burst == 4.0
    assert b.available(0.0) == 4.0
    with pytest.raises(ValueError):
        b.try_acquire(5.0, 0.0)
    b.set_rate(1.0, 0.0, burst=20.0)
    assert b.available(0.0) == 4.0
    assert b.available(10.0) == 14.0
    assert b.available(100.0) == 20.0


# ---------------------------------------------------------------------------
# drain
# ---------------------------------------------------------------------------


def test_drain_then_full_at_reset_then_configured_rate() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(2.0, 4.0, 0.0)  # (10 - 2) / 4 = 2 tokens/s until t=4
    assert b.rate == 1.0  # the configured rate is untouched
    assert b.available(0.0) == 2.0
    assert b.available(1.0) == 4.0
    assert b.available(3.0) == 8.0
    assert b.available(4.0) == 10.0
    assert b.try_acquire(10.0, 4.0) == 0.0
    assert b.available(5.0) == 1.0  # back to 1 token/s


def test_drain_refill_across_reset_is_piecewise() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(0.0, 2.0, 0.0)  # 5 tokens/s until t=2
    b.try_acquire(5.0, 1.0)  # exactly 5 refilled, 0 left
    # One step from t=1 to t=4: 1 s at 5/s, then 2 s at 1/s.
    assert b.available(4.0) == 7.0


def test_drain_wait_spans_reset() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(0.0, 5.0, 0.0)  # 2 tokens/s until t=5
    assert b.try_acquire(8.0, 4.0) == 0.0
    # 2 tokens by t=5 at 2/s, then 3 more at 1/s.
    assert b.try_acquire(5.0, 4.0) == 4.0
    assert b.try_acquire(2.0, 4.0) == 1.0  # reached on the drain line


@pytest.mark.parametrize(
    ("remaining", "reset_at", "now"),
    [(1.0, 0.7, 0.1), (4.26, 92.612, 5.61), (0.21, 16.445, 1.79), (1.73, 125.187, 54.88)],
)
def test_drain_is_full_exactly_at_reset(remaining: float, reset_at: float, now: float) -> None:
    # For these values a fixed-rate refill ends an ulp short of full.
    b = TokenBucket(0.5, 10.0, now)
    b.drain(remaining, reset_at, now)
    assert b.available(now) == remaining
    mid = (now + reset_at) / 2
    assert b.try_acquire(10.0, mid) > 0.0  # settles half-way; must not disturb the end
    assert b.available(reset_at) == 10.0
    assert b.try_acquire(10.0, reset_at) == 0.0


def test_takes_and_refunds_during_drain_carry_to_reset() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(2.0, 4.0, 0.0)  # 2 tokens/s
    assert b.try_acquire(3.0, 1.0) == 0.0  # 4 - 3 = 1 left
    assert b.available(2.0) == 3.0
    b.refund(1.0, 2.0)
    assert b.available(2.0) == 4.0
    assert b.available(4.0) == 8.0  # 10 - 3 + 1
    assert b.available(5.0) == 9.0


def test_drain_refill_lost_to_the_cap_stays_lost() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(8.0, 4.0, 0.0)  # 0.5 tokens/s until t=4
    b.refund(5.0, 0.0)  # capped at 10
    assert b.available(2.0) == 10.0
    assert b.try_acquire(6.0, 2.0) == 0.0  # 4 left, then 0.5/s for 2 s
    assert b.available(4.0) == 5.0
    assert b.available(6.0) == 7.0


def test_set_rate_during_drain_keeps_the_drain_line() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(2.0, 4.0, 0.0)  # 2 tokens/s until t=4
    b.set_rate(3.0, 1.0, burst=20.0)
    assert b.available(1.0) == 4.0
    assert b.available(4.0) == 10.0  # the drain's end point does not jump
    assert b.available(5.0) == 13.0  # then the new rate
    b.set_rate(1.0, 5.0, burst=3.0)
    assert b.available(5.0) == 3.0


def test_drain_with_reset_in_the_past_keeps_configured_rate() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(3.0, 0.0, 0.0)
    assert b.available(0.0) == 3.0
    assert b.available(2.0) == 5.0
    b.drain(1.0, 1.0, 2.0)
    assert b.available(3.0) == 2.0


def test_drain_clamps_remaining() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(-5.0, 0.0, 0.0)
    assert b.available(0.0) == 0.0
    b.drain(50.0, 10.0, 0.0)
    assert b.available(0.0) == 10.0
    assert b.available(5.0) == 10.0


def test_drain_replaces_an_earlier_drain() -> None:
    b = TokenBucket(1.0, 10.0)
    b.drain(0.0, 10.0, 0.0)  # 1 token/s until t=10
    b.drain(0.0, 2.0, 1.0)  # 10 tokens/s until t=2
    assert b.available(2.0) == 10.0


def test_drain_with_zero_rate_stops_refilling_after_reset() -> None:
    b = TokenBucket(0.0, 10.0)
    b.drain(0.0, 5.0, 0.0)
    assert b.try_acquire(10.0, 0.0) == 5.0
    assert b.available(5.0) == 10.0
    assert b.try_acquire(10.0, 5.0) == 0.0
    assert b.try_acquire(1.0, 1e9) == math.inf


def test_drain_with_stale_now_starts_from_the_bucket_clock() -> None:
    b = TokenBucket(1.0, 10.0)
    b.try_acquire(10.0, 4.0)
    b.drain(0.0, 9.0, 2.0)  # stale: the window runs from t=4, 2 tokens/s
    assert b.available(4.0) == 0.0
    assert b.available(5.0) == 2.0
    assert b.available(9.0) == 10.0


# ---------------------------------------------------------------------------
# refund
# ---------------------------------------------------------------------------


def test_refund_adds_back_capped() -> None:
    b = TokenBucket(1.0, 10.0)
    b.try_acquire(4.0, 0.0)
    b.refund(3.0, 0.0)
    assert b.available(0.0) == 9.0
    b.refund(3.0, 0.0)
    assert b.available(0.0) == 10.0


def test_refund_settles_first() -> None:
    b = TokenBucket(1.0, 10.0)
    b.try_acquire(10.0, 0.0)
    b.refund(2.0, 3.0)
    assert b.available(3.0) == 5.0


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

NOT_FINITE = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize(("rate", "burst"), [(-1.0, 1.0), (1.0, 0.0), (1.0, -1.0), *((x, 1.0) for x in NOT_FINITE)])
def test_constructor_rejects_bad_rate_or_burst(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        TokenBucket(rate, burst)


@pytest.mark.parametrize("burst", NOT_FINITE)
def test_constructor_rejects_non_finite_burst(burst: float) -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1.0, burst)


@pytest.mark.parametrize("now", NOT_FINITE)
def test_every_method_rejects_non_finite_now(now: float) -> None:
    with pytest.raises(ValueError, match="now"):
        TokenBucket(1.0, 1.0, now)
    b = TokenBucket(1.0, 1.0)
    with pytest.raises(ValueError, match="now"):
        b.try_acquire(1.0, now)
    with pytest.raises(ValueError, match="now"):
        b.set_rate(1.0, now)
    with pytest.raises(ValueError, match="now"):
        b.drain(1.0, 1.0, now)
    with pytest.raises(ValueError, match="now"):
        b.refund(1.0, now)
    with pytest.raises(ValueError, match="now"):
        b.available(now)


@pytest.mark.parametrize("tokens", [-1.0, 2.5, *NOT_FINITE])
def test_try_acquire_rejects_impossible_requests(tokens: float) -> None:
    b = TokenBucket(1.0, 2.0)
    with pytest.raises(ValueError, match="tokens"):
        b.try_acquire(tokens, 0.0)


@pytest.mark.parametrize("tokens", [-1.0, *NOT_FINITE])
def test_refund_rejects_bad_amounts(tokens: float) -> None:
    b = TokenBucket(1.0, 2.0)
    with pytest.raises(ValueError, match="tokens"):
        b.refund(tokens, 0.0)


def test_set_rate_and_drain_reject_bad_values() -> None:
    b = TokenBucket(1.0, 2.0)
    with pytest.raises(ValueError, match="rate"):
        b.set_rate(-0.5, 0.0)
    with pytest.raises(ValueError, match="burst"):
        b.set_rate(1.0, 0.0, burst=0.0)
    with pytest.raises(ValueError, match="remaining"):
        b.drain(math.nan, 1.0, 0.0)
    with pytest.raises(ValueError, match="reset_at"):
        b.drain(1.0, math.inf, 0.0)


def test_failed_calls_change_nothing() -> None:
    b = TokenBucket(1.0, 2.0)
    b.try_acquire(1.5, 0.0)
    for bad in (
        lambda: b.try_acquire(3.0, 10.0),
        lambda: b.set_rate(5.0, 10.0, burst=-1.0),
        lambda: b.drain(math.nan, 20.0, 10.0),
        lambda: b.refund(-1.0, 10.0),
    ):
        with pytest.raises(ValueError):
            bad()
    assert (b.rate, b.burst) == (1.0, 2.0)
    assert b.available(0.0) == 0.5
    assert b.available(1.0) == 1.5


@pytest.mark.parametrize("bad", ["1.0", b"1", None, [1.0]])
def test_non_numbers_are_type_errors(bad: object) -> None:
    with pytest.raises(TypeError):
        TokenBucket(bad, 1.0)  # type: ignore[arg-type]
    b = TokenBucket(1.0, 1.0)
    with pytest.raises(TypeError):
        b.try_acquire(bad, 0.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.available(bad)  # type: ignore[arg-type]
