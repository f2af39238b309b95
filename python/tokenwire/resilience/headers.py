"""Parsing the providers' rate-limit response headers into one shape.

Families read (names are case-insensitive):

- **OpenAI style** — OpenAI, Azure OpenAI, Groq, xAI, Mistral, Together, Fireworks,
  OpenRouter and most OpenAI-compatible servers:
  ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``. Resets are Go
  ``time.Duration`` strings — the time until the bucket is full again: ``1s``,
  ``6m0s``, ``20ms``, ``2m59.56s``, ``1h2m3s`` (also ``µs``/``us``/``ns``). Variants
  handled: a window suffix naming the period (Cerebras'
  ``x-ratelimit-limit-requests-day``, ``…-tokens-minute``, with resets in plain
  seconds such as ``33011.38``), and the bare ``x-ratelimit-{limit,remaining,reset}``
  (counted as requests; OpenRouter sends the reset as epoch milliseconds).
- **Anthropic**: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
  {limit,remaining,reset}`` with RFC 3339 resets (``2025-08-21T12:40:59Z``).
  ``tokens`` is the combined input+output view.
- ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date).

A reset value is read, in order, as: a plain number (seconds; ``>= 1e9`` is taken as
a Unix time in seconds and ``>= 1e11`` in milliseconds — no provider sends a
31-year duration), a Go duration, an RFC 3339 instant, an HTTP date. Absolute instants
become durations against the caller's wall clock; a reset in the past reads as 0.

Garbage never raises: an unreadable value is dropped (``None``) and the rest of the
headers still count. Negative, infinite and NaN numbers are garbage; a limit must be
``> 0``.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import email.utils
import math
import operator
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Optional

import httpx

from tokenwire._http import parse_retry_after

__all__ = [
    "RateLimitHeaders",
    "RateLimitWindow",
    "parse_go_duration",
    "parse_rate_limit_headers",
    "parse_reset",
    "parse_rfc3339",
]

KINDS = ("requests", "tokens", "input_tokens", "output_tokens")

_WINDOWS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}

# Nanoseconds per unit: Go parses into integer nanoseconds, and so do we (exact sums,
# one correctly rounded division at the end: "9ms" is 0.009, not 0.009000000000000001).
_GO_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # MICRO SIGN, what Go prints
    "\u03bcs": 1_000,  # GREEK SMALL LETTER MU, also accepted by Go
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
# "ms" must be tried before "m"; a number may be "1", "1.", "1.5" or ".5".
_GO_TOKEN = re.compile("(\\d*)(?:\\.(\\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_GO_DURATION = re.compile("[+-]?(?:(?:\\d+\\.?\\d*|\\.\\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+")

_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))")

# Absolute times sent as plain numbers: Unix seconds, then Unix milliseconds.
_EPOCH_SECONDS = 1e9
_EPOCH_MILLIS = 1e11


def parse_go_duration(text: str) -> Optional[float]:
    """Seconds from a Go ``time.Duration`` string (``"6m0s"``, ``"20ms"``,
    ``"2m59.56s"``, ``"0"``); ``None`` for anything else or a negative duration."""
    text = text.strip()
    if text in {"0", "+0", "-0"}:
        return 0.0
    if not _GO_DURATION.fullmatch(text):
        return None
    if text.startswith("-"):
        return None
    nanos = 0
    for whole, frac, unit in _GO_TOKEN.findall(text):
        scale = _GO_UNITS[unit]
        nanos += int(whole or "0") * scale
        if frac:
            # Digits beyond nanosecond precision are truncated, as Go does.
            nanos += int(frac) * scale // 10 ** len(frac)
    seconds = nanos / 1e9
    return seconds if math.isfinite(seconds) else None


def parse_rfc3339(text: str) -> Optional[float]:
    """Unix seconds from an RFC 3339 timestamp (``2025-08-21T12:40:59Z``,
    ``2025-08-21T14:40:59.250+02:00``); ``None`` if it is not one."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    frac = match.group(7)
    leap = second == 60  # RFC 3339 allows a leap second; count it as the next second
    try:
        _dt.datetime(year, month, day, hour, minute, 59 if leap else second)
    except ValueError:
        return None
    epoch = float(calendar.timegm((year, month, day, hour, minute, 59 if leap else second, 0, 0, 0)))
    if leap:
        epoch += 1.0
    if frac:
        epoch += float(frac)
    if match.group(8) is None:
        offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = offset_hours * 3600 + offset_minutes * 60
        epoch -= offset if match.group(9) == "+" else -offset
    return epoch


def _number(text: str) -> Optional[float]:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_reset(value: str, *, wall_now: Optional[float] = None) -> Optional[float]:
    """Seconds from now until a limit resets, from any supported reset format.

    ``wall_now`` (Unix seconds; default :func:`time.time`) anchors absolute instants.
    ``None`` when unreadable or negative.
    """
    text = value.strip()
    if not text:
        return None
    number = _number(text)
    if number is not None:
        if number < 0:
            return None
        if number < _EPOCH_SECONDS:
            return number
        now = time.time() if wall_now is None else wall_now
        epoch = number / 1000.0 if number >= _EPOCH_MILLIS else number
        return max(0.0, epoch - now)
    seconds = parse_go_duration(text)
    if seconds is not None:
        return seconds
    instant = parse_rfc3339(text)
    if instant is None:
        parsed = email.utils.parsedate_tz(text)
        if parsed is None:
            return None
        try:
            instant = float(email.utils.mktime_tz(parsed))
        except (OverflowError, ValueError):
            return None
    now = time.time() if wall_now is None else wall_now
    return max(0.0, instant - now)


def _quantity(text: str, *, allow_zero: bool) -> tuple[Optional[float], Optional[float]]:
    """A limit/remaining value and the window it names, if any.

    Accepts a plain number, or the IETF draft shape ``"100;w=60"`` / ``"100, 100;w=60"``
    (first entry only)."""
    first = text.split(",", 1)[0]
    parts = first.split(";")
    number = _number(parts[0].strip())
    if number is None or number < 0 or (number == 0 and not allow_zero):
        return None, None
    window: Optional[float] = None
    for param in parts[1:]:
        name, _, raw = param.partition("=")
        if name.strip().lower() in {"w", "window"}:
            seconds = _number(raw.strip())
            if seconds is not None and seconds > 0:
                window = seconds
    return number, window


@dataclass(frozen=True)
class RateLimitWindow:
    """One metered quantity as a response reported it.

    ``reset_after`` is the seconds from the response until the quantity is fully
    replenished; ``window`` the period the limit is per (seconds) when the headers say
    so (Cerebras' ``-day`` suffix, a draft ``;w=`` parameter), else ``None``.
    """

    kind: str
    limit: Optional[float] = None
    remaining: Optional[float] = None
    reset_after: Optional[float] = None
    window: Optional[float] = None


@dataclass(frozen=True)
class RateLimitHeaders:
    """Everything rate-limit related in one response's headers.

    ``raw`` holds the rate-limit headers that were seen (lower-cased names, values
    verbatim), for stats and debugging. ``windows`` lists every window read (several
    per kind are possible, e.g. per minute and per day); the per-kind attributes hold
    the one a limiter should enforce: the unsuffixed one, else the shortest period.
    """

    requests: Optional[RateLimitWindow] = None
    tokens: Optional[RateLimitWindow] = None
    input_tokens: Optional[RateLimitWindow] = None
    output_tokens: Optional[RateLimitWindow] = None
    retry_after: Optional[float] = None
    windows: tuple[RateLimitWindow, ...] = ()
    raw: Mapping[str, str] = field(default_factory=lambda: {})

    def get(self, kind: str) -> Optional[RateLimitWindow]:
        """The window for ``kind`` (``"requests"``, ``"tokens"``, ``"input_tokens"``,
        ``"output_tokens"``), or ``None``."""
        if kind not in KINDS:
            raise ValueError(f"unknown rate-limit kind {kind!r}")
        window: Optional[RateLimitWindow] = getattr(self, kind)
        return window

    @property
    def empty(self) -> bool:
        """Whether no rate-limit information was found at all."""
        return not self.windows and self.retry_after is None


def _split_openai(rest: str) -> Optional[tuple[str, str, Optional[float]]]:
    # rest: "limit-requests", "reset-tokens-minute", "remaining" (bare), ...
    fld, _, tail = rest.partition("-")
    if fld not in {"limit", "remaining", "reset"}:
        return None
    if not tail:
        return fld, "requests", None
    window: Optional[float] = None
    base, _, suffix = tail.rpartition("-")
    if base and suffix in _WINDOWS:
        tail, window = base, _WINDOWS[suffix]
    kind = tail.replace("-", "_")
    if kind not in KINDS:
        return None
    return fld, kind, window


def _split_anthropic(rest: str) -> Optional[tuple[str, str, Optional[float]]]:
    # rest: "requests-limit", "input-tokens-reset", ...
    kind, _, fld = rest.rpartition("-")
    kind = kind.replace("-", "_")
    if fld not in {"limit", "remaining", "reset"} or kind not in KINDS:
        return None
    return fld, kind, None


# Every header name this module reads starts with one of these (lower-cased).
_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after")

# What a response without any rate-limit header parses to (immutable, so shareable).
_EMPTY = RateLimitHeaders(raw=MappingProxyType({}))


_RAW_PREFIXES = tuple(prefix.encode("ascii") for prefix in _PREFIXES)
_first = operator.itemgetter(0)


def rate_limit_names(headers: Mapping[str, str]) -> list[str]:
    """The names in ``headers`` that :func:`parse_rate_limit_headers` reads (each once).

    This runs on every response, and many providers (and most non-429 answers of some)
    send no rate-limit header: for an ``httpx.Headers`` the raw byte names are checked,
    since iterating it decodes every name (and builds a dict of them).
    """
    if isinstance(headers, httpx.Headers):
        raw = headers.raw
        # One search over all the names answers the usual "none" (every prefix has one
        # of these in it); only then are the names looked at one by one.
        joined = b"\n".join(map(_first, raw)).lower()
        if b"ratelimit-" not in joined and b"retry-after" not in joined:
            return []
        found: list[str] = []
        for raw_name, _ in raw:
            lowered = raw_name.lower()
            if lowered.startswith(_RAW_PREFIXES):
                # Decoded as httpx decodes names, so that headers[name] finds it.
                name = lowered.decode(headers.encoding)
                if name not in found:
                    found.append(name)
        return found
    return [name for name in headers if name.lower().startswith(_PREFIXES)]


def parse_rate_limit_headers(headers: Mapping[str, str], *, wall_now: Optional[float] = None) -> RateLimitHeaders:
    """Read the rate-limit state from response ``headers`` (any mapping; names are
    matched case-insensitively). ``wall_now`` (Unix seconds; default
    :func:`time.time`) anchors absolute reset times. Never raises on bad values."""
    # Look at the names first and read (for an ``httpx.Headers``: decode) only the
    # values of the candidates.
    names = rate_limit_names(headers)
    if not names:
        return _EMPTY
    return parse_named_rate_limit_headers(headers, names, wall_now=wall_now)


def parse_named_rate_limit_headers(
    headers: Mapping[str, str], names: list[str], *, wall_now: Optional[float] = None
) -> RateLimitHeaders:
    """:func:`parse_rate_limit_headers` of ``headers`` whose :func:`rate_limit_names`
    are ``names``: for callers that skip other work when there are none."""
    if not names:
        return _EMPTY
    now = time.time() if wall_now is None else wall_now
    raw: dict[str, str] = {}
    # (kind, window named by the header) -> {"limit"|"remaining"|"reset"|"window": value}.
    found: dict[tuple[str, Optional[float]], dict[str, float]] = {}
    for name in names:
        value = headers[name]
        lname = name.lower()
        if lname.startswith("x-ratelimit-"):
            split = _split_openai(lname[12:])
        elif lname.startswith("anthropic-ratelimit-"):
            split = _split_anthropic(lname[20:])
        elif lname in {"retry-after", "retry-after-ms"}:
            raw[lname] = value
            continue
        else:
            continue
        if split is None:
            continue
        raw[lname] = value
        fld, kind, window = split
        param_window: Optional[float] = None
        if fld == "reset":
            number: Optional[float] = parse_reset(value, wall_now=now)
        else:
            number, param_window = _quantity(value, allow_zero=fld == "remaining")
        if number is not None:
            values = found.setdefault((kind, window), {})
            values[fld] = number
            if param_window is not None and fld == "limit":
                values["window"] = param_window
    windows = tuple(
        RateLimitWindow(
            kind,
            values.get("limit"),
            values.get("remaining"),
            values.get("reset"),
            window if window is not None else values.get("window"),
        )
        for (kind, window), values in found.items()
    )
    chosen: dict[str, RateLimitWindow] = {}
    for entry in windows:
        current = chosen.get(entry.kind)
        if current is None or _preferred(entry, current):
            chosen[entry.kind] = entry
    return RateLimitHeaders(
        requests=chosen.get("requests"),
        tokens=chosen.get("tokens"),
        input_tokens=chosen.get("input_tokens"),
        output_tokens=chosen.get("output_tokens"),
        retry_after=parse_retry_after(raw, now=now) if raw else None,
        windows=windows,
        raw=raw,
    )


def _preferred(candidate: RateLimitWindow, current: RateLimitWindow) -> bool:
    # The unsuffixed window wins; among named ones the shortest period.
    if current.window is None:
        return False
    if candidate.window is None:
        return True
    return candidate.window < current.window
