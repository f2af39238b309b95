"""Rate-limit header parsing: every provider format, and bad input that must not raise.

Header values come from the providers' documentation and published captures:
OpenAI (``x-ratelimit-*`` with Go-duration resets, e.g. ``12ms``/``9ms`` on a 5000 rpm
key), Anthropic (``anthropic-ratelimit-*`` with RFC 3339 resets; a captured 200
response has requests 1000/999, tokens 96000 = input 80000 + output 16000), Groq
(``x-ratelimit-*`` with a per-day request limit, ``2m59.56s`` / ``7.66s`` resets,
``retry-after`` on 429), Cerebras (window-suffixed names, resets in plain seconds) and
OpenRouter (bare ``x-ratelimit-*`` with an epoch-milliseconds reset).
"""

from __future__ import annotations

import calendar
import math
from datetime import datetime, timedelta, timezone
from typing import Optional

import httpx
import pytest

from tokenwire.resilience import (
    RateLimitWindow,
    parse_go_duration,
    parse_rate_limit_headers,
    parse_reset,
    parse_rfc3339,
)

WALL = 1_755_780_060.0  # 2025-08-21T12:41:00Z


def _utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


# ---------------------------------------------------------------------------
# Go durations
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("2m59.56s", 179.56),
        ("1h2m3s", 3723.0),
        ("1h0m0s", 3600.0),
        ("7.66s", 7.66),
        ("12ms", 0.012),
        ("120ms", 0.12),
        ("0s", 0.0),
        ("0", 0.0),
        ("+0", 0.0),
        ("-0", 0.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("+1s", 1.0),
        ("1\u00b5s", 1e-6),  # MICRO SIGN, as Go prints it
        ("1\u03bcs", 1e-6),  # GREEK SMALL LETTER MU
        ("1us", 1e-6),
        ("100ns", 1e-7),
        ("1m1ms", 60.001),
        ("1h30m", 5400.0),
        ("2h45m0.5s", 9900.5),
        ("  6m0s  ", 360.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    value = parse_go_duration(text)
    assert value is not None
    assert math.isclose(value, seconds, rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize(
    "text",
    ["", " ", "s", "1", "1.5", "1x", "-1s", "-6m0s", "1s garbage", "1 s", "ms", "1h-2m", "..s", "1e3s", "NaN", "inf",
     "1S", "one second", "1d", "1,5s", "0x1s", "s1", "1s1"],
)  # fmt: skip
def test_go_duration_garbage(text: str) -> None:
    assert parse_go_duration(text) is None


# ---------------------------------------------------------------------------
# RFC 3339
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-08-21T12:40:59Z", _utc("2025-08-21T12:40:59")),
        ("2025-08-21t12:40:59z", _utc("2025-08-21T12:40:59")),
        ("2025-08-21 12:40:59Z", _utc("2025-08-21T12:40:59")),
        ("2025-08-21T12:40:59.250Z", _utc("2025-08-21T12:40:59") + 0.25),
        ("2025-08-21T12:40:59.123456789Z", _utc("2025-08-21T12:40:59") + 0.123456789),
        ("2025-08-21T14:40:59+02:00", _utc("2025-08-21T12:40:59")),
        ("2025-08-21T07:10:59-05:30", _utc("2025-08-21T12:40:59")),
        ("2025-08-21T12:40:59+0000", _utc("2025-08-21T12:40:59")),
        ("2025-08-21T12:40:59-00:00", _utc("2025-08-21T12:40:59")),
        ("2016-12-31T23:59:60Z", _utc("2017-01-01T00:00:00")),  # leap second
        ("2024-02-29T00:00:00Z", _utc("2024-02-29T00:00:00")),
    ],
)
def test_rfc3339(text: str, expected: float) -> None:
    value = parse_rfc3339(text)
    assert value is not None
    assert math.isclose(value, expected, rel_tol=0, abs_tol=1e-6)


@pytest.mark.parametrize(
    "text",
    ["", "2025-08-21", "2025-08-21T12:40:59", "2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z",
     "2025-08-21T25:00:00Z", "2025-08-21T12:61:00Z", "2025-08-21T12:40:59+24:00", "2025-08-21T12:40:59+02:60",
     "21 Aug 2025 12:40:59 GMT", "2025-08-21T12:40:59ZZ", "x2025-08-21T12:40:59Z", "2025-8-21T12:40:59Z"],
)  # fmt: skip
def test_rfc3339_garbage(text: str) -> None:
    assert parse_rfc3339(text) is None


# ---------------------------------------------------------------------------
# Reset values in any format
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),  # OpenAI / Groq
        ("20ms", 0.02),
        ("33011.382867097855", 33011.382867097855),  # Cerebras: plain seconds
        ("1", 1.0),
        ("0", 0.0),
        (str(WALL + 30), 30.0),  # Unix seconds
        (str(int((WALL + 45) * 1000)), 45.0),  # Unix milliseconds (OpenRouter)
        (str(WALL - 100), 0.0),  # an absolute time in the past
        ("2025-08-21T12:41:30Z", 30.0),  # Anthropic
        ("2025-08-21T12:40:59Z", 0.0),  # already past (as in the captured response)
        ("Thu, 21 Aug 2025 12:42:00 GMT", 60.0),  # HTTP date
    ],
)
def test_reset_formats(text: str, seconds: float) -> None:
    value = parse_reset(text, wall_now=WALL)
    assert value is not None
    assert math.isclose(value, seconds, rel_tol=1e-9, abs_tol=1e-6)


@pytest.mark.parametrize("text", ["", "   ", "-1", "-5s", "nan", "inf", "-inf", "soon", "1x", "2025-02-30T00:00:00Z"])
def test_reset_garbage(text: str) -> None:
    assert parse_reset(text, wall_now=WALL) is None


def test_reset_defaults_to_the_real_wall_clock() -> None:
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    value = parse_reset(future.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert value is not None
    assert 3500 < value <= 3600


# ---------------------------------------------------------------------------
# Whole header sets
# ---------------------------------------------------------------------------


def test_openai_headers() -> None:
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "5000",
            "x-ratelimit-limit-tokens": "160000",
            "x-ratelimit-remaining-requests": "4999",
            "x-ratelimit-remaining-tokens": "159976",
            "x-ratelimit-reset-requests": "12ms",
            "x-ratelimit-reset-tokens": "9ms",
            # A usage-based variant some OpenAI responses add: not a quantity we meter.
            "x-ratelimit-limit-tokens_usage_based": "160000",
            "x-request-id": "req_123",
            "content-type": "text/event-stream",
        },
        wall_now=WALL,
    )
    assert info.requests == RateLimitWindow("requests", 5000.0, 4999.0, 0.012)
    assert info.tokens == RateLimitWindow("tokens", 160000.0, 159976.0, 0.009)
    assert info.input_tokens is None and info.output_tokens is None
    assert info.retry_after is None
    assert not info.empty
    assert set(info.raw) == {
        "x-ratelimit-limit-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
    }


def test_anthropic_headers() -> None:
    headers = {
        "anthropic-ratelimit-input-tokens-limit": "80000",
        "anthropic-ratelimit-input-tokens-remaining": "79000",
        "anthropic-ratelimit-input-tokens-reset": "2025-08-21T12:41:01Z",
        "anthropic-ratelimit-output-tokens-limit": "16000",
        "anthropic-ratelimit-output-tokens-remaining": "16000",
        "anthropic-ratelimit-output-tokens-reset": "2025-08-21T12:41:00Z",
        "anthropic-ratelimit-requests-limit": "1000",
        "anthropic-ratelimit-requests-remaining": "999",
        "anthropic-ratelimit-requests-reset": "2025-08-21T12:40:59Z",
        "anthropic-ratelimit-tokens-limit": "96000",
        "anthropic-ratelimit-tokens-remaining": "95000",
        "anthropic-ratelimit-tokens-reset": "2025-08-21T12:41:06Z",
        "request-id": "req_011CSLsW7mFqvHHnzrKdKjAE",
        "anthropic-organization-id": "36562039-1ae4-48e6-ae28-1e517e3d2d12",
    }
    info = parse_rate_limit_headers(headers, wall_now=WALL)
    assert info.requests == RateLimitWindow("requests", 1000.0, 999.0, 0.0)
    assert info.tokens == RateLimitWindow("tokens", 96000.0, 95000.0, 6.0)
    assert info.input_tokens == RateLimitWindow("input_tokens", 80000.0, 79000.0, 1.0)
    assert info.output_tokens == RateLimitWindow("output_tokens", 16000.0, 16000.0, 0.0)
    assert info.get("tokens") is info.tokens
    assert len(info.raw) == 12


def test_groq_headers_with_retry_after() -> None:
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "14400",
            "x-ratelimit-limit-tokens": "18000",
            "x-ratelimit-remaining-requests": "14370",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-requests": "2m59.56s",
            "x-ratelimit-reset-tokens": "7.66s",
            "retry-after": "8",
        },
        wall_now=WALL,
    )
    assert info.requests == RateLimitWindow("requests", 14400.0, 14370.0, 179.56)
    assert info.tokens == RateLimitWindow("tokens", 18000.0, 0.0, 7.66)
    assert info.retry_after == 8.0
    assert info.raw["retry-after"] == "8"


def test_retry_after_ms_wins_and_http_dates_read() -> None:
    info = parse_rate_limit_headers({"retry-after-ms": "1500", "retry-after": "9"}, wall_now=WALL)
    assert info.retry_after == 1.5
    assert info.windows == ()
    assert not info.empty
    dated = parse_rate_limit_headers({"Retry-After": "Thu, 21 Aug 2025 12:41:20 GMT"}, wall_now=WALL)
    assert dated.retry_after == pytest.approx(20.0)


def test_cerebras_window_suffixes() -> None:
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests-day": "14400",
            "x-ratelimit-remaining-requests-day": "14399",
            "x-ratelimit-reset-requests-day": "33011.382867097855",
            "x-ratelimit-limit-tokens-minute": "60000",
            "x-ratelimit-remaining-tokens-minute": "59000",
            "x-ratelimit-reset-tokens-minute": "11.382867097855",
        },
        wall_now=WALL,
    )
    assert info.requests == RateLimitWindow("requests", 14400.0, 14399.0, 33011.382867097855, 86400.0)
    assert info.tokens == RateLimitWindow("tokens", 60000.0, 59000.0, 11.382867097855, 60.0)


def test_several_windows_per_kind_prefer_unsuffixed_then_shortest() -> None:
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests-day": "10000",
            "x-ratelimit-limit-requests-hour": "1000",
            "x-ratelimit-limit-requests-minute": "30",
            "x-ratelimit-limit-tokens-day": "1000000",
            "x-ratelimit-limit-tokens": "60000",
            "x-ratelimit-limit-tokens-minute": "50000",
        },
        wall_now=WALL,
    )
    assert info.requests is not None and info.requests.limit == 30.0 and info.requests.window == 60.0
    assert info.tokens is not None and info.tokens.limit == 60000.0 and info.tokens.window is None
    assert len(info.windows) == 6


def test_openrouter_bare_headers_count_as_requests() -> None:
    info = parse_rate_limit_headers(
        {
            "X-RateLimit-Limit": "20",
            "X-RateLimit-Remaining": "19",
            "X-RateLimit-Reset": str(int((WALL + 10) * 1000)),
        },
        wall_now=WALL,
    )
    assert info.requests is not None
    assert (info.requests.limit, info.requests.remaining, info.requests.window) == (20.0, 19.0, None)
    assert info.requests.reset_after == pytest.approx(10.0)


def test_ietf_draft_window_parameter() -> None:
    info = parse_rate_limit_headers(
        {"x-ratelimit-limit-requests": "100;w=3600", "x-ratelimit-remaining-requests": "90, 5;w=60"},
        wall_now=WALL,
    )
    assert info.requests == RateLimitWindow("requests", 100.0, 90.0, None, 3600.0)


def test_names_are_case_insensitive_and_httpx_headers_work() -> None:
    headers = httpx.Headers(
        {
            "X-RateLimit-Limit-Requests": "500",
            "X-RATELIMIT-REMAINING-REQUESTS": "499",
            "x-ratelimit-reset-requests": "120ms",
            "Anthropic-RateLimit-Tokens-Limit": "1000",
        }
    )
    info = parse_rate_limit_headers(headers, wall_now=WALL)
    assert info.requests == RateLimitWindow("requests", 500.0, 499.0, 0.12)
    assert info.tokens == RateLimitWindow("tokens", 1000.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abc", None), ("", None), ("-5", None), ("0", None), ("nan", None), ("inf", None), ("1e400", None),
     ("12.5", 12.5), (" 7 ", 7.0), ("1e3", 1000.0)],
)  # fmt: skip
def test_bad_limit_values_are_dropped_individually(value: str, expected: Optional[float]) -> None:
    info = parse_rate_limit_headers(
        {"x-ratelimit-limit-requests": value, "x-ratelimit-remaining-requests": "3"}, wall_now=WALL
    )
    assert info.requests is not None
    assert info.requests.limit == expected
    assert info.requests.remaining == 3.0


def test_zero_remaining_is_kept_but_negative_is_not() -> None:
    zero = parse_rate_limit_headers({"x-ratelimit-remaining-tokens": "0"}, wall_now=WALL)
    assert zero.tokens == RateLimitWindow("tokens", remaining=0.0)
    negative = parse_rate_limit_headers({"x-ratelimit-remaining-tokens": "-3"}, wall_now=WALL)
    assert negative.tokens is None
    assert negative.windows == ()
    assert negative.empty


def test_garbage_everywhere_never_raises() -> None:
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "lots",
            "x-ratelimit-remaining-requests": "\x00",
            "x-ratelimit-reset-requests": "whenever",
            "x-ratelimit-reset-tokens": "-1s",
            "x-ratelimit-": "1",
            "x-ratelimit-foo-requests": "1",
            "x-ratelimit-limit-foo": "1",
            "x-ratelimit-limit-requests-fortnight": "1",
            "anthropic-ratelimit-unified-reset": "1755780100",
            "anthropic-ratelimit-requests": "5",
            "anthropic-ratelimit-requests-used": "5",
            "retry-after": "later",
            "retry-after-ms": "-4",
        },
        wall_now=WALL,
    )
    assert info.requests is None and info.tokens is None
    assert info.windows == ()
    assert info.retry_after is None
    # The recognised names are still reported raw, for debugging.
    assert "x-ratelimit-limit-requests" in info.raw and "retry-after" in info.raw


def test_unrelated_headers_give_an_empty_result() -> None:
    info = parse_rate_limit_headers({"content-type": "application/json", "x-request-id": "r"}, wall_now=WALL)
    assert info.empty
    assert info.raw == {}
    assert parse_rate_limit_headers({}, wall_now=WALL).empty


def test_get_rejects_unknown_kinds() -> None:
    info = parse_rate_limit_headers({}, wall_now=WALL)
    assert info.get("input_tokens") is None
    with pytest.raises(ValueError, match="unknown rate-limit kind"):
        info.get("bytes")


def test_rfc3339_agrees_with_calendar() -> None:
    # A sweep across month ends and offsets, against the standard library.
    base = datetime(2023, 12, 31, 23, 0, 0, tzinfo=timezone.utc)
    for hours in range(0, 24 * 70, 7):
        moment = base + timedelta(hours=hours, seconds=hours % 60)
        for offset_minutes in (-720, -330, 0, 345, 840):
            local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
            text = local.isoformat()
            assert parse_rfc3339(text) == float(calendar.timegm(moment.utctimetuple()))
