"""Shared helpers for the StreamProcessor tests (and the processor benchmarks).

- :func:`frame_recorded` turns a recorded ``*.chunks.txt`` (one JSON payload per line)
  into the bytes the provider sends on the wire, exactly as
  ``../shared/fixtures/recorded/SOURCES.md`` describes for each provider.
- :func:`classify_recorded` picks the dialect of a recorded stream from its package
  folder and its payloads, or says why the file is not a stream this processor reads.
- :func:`token_tuple` normalizes a token of either backend to ``(type name, *fields)``.
- :func:`run_processor` feeds chunks and collects tokens plus the error that ended the
  stream, so tests can compare whole outcomes.
- Chunking helpers: :func:`split_at`, :func:`byte_chunks`, :func:`strided_points`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

__all__ = [
    "BEDROCK_REASON",
    "Outcome",
    "byte_chunks",
    "classify_recorded",
    "frame_lines",
    "frame_recorded",
    "recorded_lines",
    "run_processor",
    "split_at",
    "strided_points",
    "token_tuple",
]

BEDROCK_REASON = "Bedrock ConverseStream (binary event-stream): decoded in tests/integration/test_bedrock_recorded.py"

# Folders whose streams are OpenAI Chat Completions chunks (OpenAI-compatible providers).
_TYPE_MEMBER = re.compile(rb'"type":"([^"\\]+)"')
_CHAT_FOLDERS = {"deepseek", "groq", "mistral", "moonshotai", "perplexity", "openai-compatible"}


def recorded_lines(path: Path) -> list[bytes]:
    """The payload lines of a ``*.chunks.txt`` file (bytes, without line ends; blank lines dropped)."""
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


def classify_recorded(path: Path) -> tuple[Optional[str], str]:
    """``(dialect, "")`` for a provider stream, or ``(None, reason)`` for a file to skip."""
    folder = path.parent.name
    if folder == "amazon-bedrock":
        return None, BEDROCK_REASON
    payloads = []
    for line in recorded_lines(path)[:3]:
        try:
            payloads.append(json.loads(line))
        except ValueError:
            continue
    first = payloads[0] if payloads and isinstance(payloads[0], dict) else {}
    kind = first.get("type")
    if folder == "anthropic":
        return "anthropic", ""
    if folder == "google":
        if "event_type" in first:
            return None, "Gemini Interactions API stream (interaction/step events), not streamGenerateContent"
        if "candidates" in first or "usageMetadata" in first:
            return "gemini", ""
        return None, "Gemini Live API (WebSocket) messages, not a streamGenerateContent stream"
    if isinstance(kind, str) and kind.startswith("response."):
        return "openai-responses", ""
    if isinstance(kind, str) and kind.startswith("session."):
        return None, "OpenAI Realtime API (WebSocket) events, not an HTTP stream"
    # Chat chunks, and legacy Completions chunks (text_completion: choices[].text),
    # which the openai-chat dialect reads too.
    if folder in _CHAT_FOLDERS or "choices" in first:
        return "openai-chat", ""
    return None, f"unrecognized stream shape in {folder}/{path.name}"


def frame_lines(lines: Sequence[bytes], dialect: str) -> bytes:
    """Frame payload lines as the provider's wire bytes (SOURCES.md)."""
    parts: list[bytes] = []
    if dialect == "openai-chat":
        parts.extend(b"data: " + line + b"\n\n" for line in lines)
        parts.append(b"data: [DONE]\n\n")
    elif dialect in ("openai-responses", "anthropic"):
        for line in lines:
            kind = _payload_type(line)
            # A payload without a type goes out without an event line.
            head = b"event: " + kind + b"\n" if kind is not None else b""
            parts.append(head + b"data: " + line + b"\n\n")
    elif dialect == "gemini":
        parts.extend(b"data: " + line + b"\r\n\r\n" for line in lines)
    elif dialect == "ndjson":
        parts.extend(line + b"\n" for line in lines)
    else:
        raise ValueError(f"no framing for dialect {dialect!r}")
    return b"".join(parts)


def _payload_type(line: bytes) -> Optional[bytes]:
    """The payload's top-level ``type`` (for the SSE ``event:`` line)."""
    try:
        payload = json.loads(line)
    except ValueError:
        # A malformed recording (one Responses fixture lacks a closing brace): its type
        # is still the first "type" member.
        found = _TYPE_MEMBER.search(line)
        return found.group(1) if found else None
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind.encode() if isinstance(kind, str) else None


def frame_recorded(path: Path, dialect: Optional[str] = None) -> bytes:
    """The wire bytes of a recorded ``*.chunks.txt`` stream (dialect auto-detected if not given)."""
    if dialect is None:
        dialect, reason = classify_recorded(path)
        if dialect is None:
            raise ValueError(f"{path.name}: {reason}")
    return frame_lines(recorded_lines(path), dialect)


# ---------------------------------------------------------------------------
# Tokens and outcomes
# ---------------------------------------------------------------------------

_FIELDS = {
    "TextDelta": ("text",),
    "ReasoningDelta": ("text",),
    "ToolCallDelta": ("index", "id", "name", "arguments"),
    "Usage": ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"),
    "Citation": ("url", "title"),
    "Finish": ("reason",),
}


def token_tuple(token: Any) -> tuple[Any, ...]:
    """``(type name, *fields)``: comparable across the native and pure token classes.

    A ``Usage`` with a reported ``cost`` (not one of its match args) gets it appended.
    """
    name = type(token).__name__
    fields = (name, *(getattr(token, attr) for attr in _FIELDS[name]))
    cost = token.cost if name == "Usage" else None
    return fields if cost is None else (*fields, cost)


@dataclass
class Outcome:
    """Everything a stream produced: tokens (as tuples) and the error that ended it."""

    tokens: list[tuple[Any, ...]] = field(default_factory=list)
    error: Optional[BaseException] = None

    @property
    def error_key(self) -> Optional[tuple[Any, ...]]:
        """The error's class name plus what identifies it (offset or provider fields)."""
        error = self.error
        if error is None:
            return None
        if hasattr(error, "offset"):
            return (type(error).__name__, error.offset)  # type: ignore[attr-defined]
        return (
            type(error).__name__,
            getattr(error, "message", str(error)),
            getattr(error, "error_type", None),
            getattr(error, "code", None),
            getattr(error, "status", None),
        )

    def text(self, kind: str = "TextDelta") -> str:
        return "".join(t[1] for t in self.tokens if t[0] == kind)


def run_processor(
    module: ModuleType,
    dialect: str,
    chunks: Iterable[bytes],
    *,
    coalesce: bool = False,
    max_event_bytes: Optional[int] = None,
    think_tags: bool = False,
    envelope: Optional[str] = None,
) -> Outcome:
    """Feed ``chunks`` then ``finish()``; stop at the first error (kept in the outcome).

    Also checks the error contract: once a call raised, the next call raises again.
    """
    kwargs: dict[str, Any] = {"coalesce": coalesce}
    if max_event_bytes is not None:
        kwargs["max_event_bytes"] = max_event_bytes
    if think_tags:
        kwargs["think_tags"] = True
    if envelope is not None:
        kwargs["envelope"] = envelope
    processor = module.StreamProcessor(dialect, **kwargs)
    outcome = Outcome()
    try:
        for chunk in chunks:
            outcome.tokens.extend(token_tuple(t) for t in processor.feed(chunk))
        outcome.tokens.extend(token_tuple(t) for t in processor.finish())
    except Exception as exc:
        outcome.error = exc
        try:
            processor.finish()
        except type(exc):
            pass
        else:  # pragma: no cover - a contract violation, reported by the caller's assert
            raise AssertionError(f"{dialect}: finish() after {exc!r} did not raise it again") from exc
    else:
        assert processor.finish() == [], "a second finish() must return []"
    return outcome


# ---------------------------------------------------------------------------
# Chunkings
# ---------------------------------------------------------------------------


def split_at(data: bytes, points: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (sorted, deduplicated, 0 and len ignored)."""
    cuts = sorted({p for p in points if 0 < p < len(data)})
    pieces: list[bytes] = []
    previous = 0
    for cut in cuts:
        pieces.append(data[previous:cut])
        previous = cut
    pieces.append(data[previous:])
    return pieces


def byte_chunks(data: bytes) -> list[bytes]:
    """One chunk per byte."""
    return [data[i : i + 1] for i in range(len(data))]


def strided_points(length: int, count: int) -> list[int]:
    """About ``count`` split offsets spread evenly over ``1..length-1`` (all of them if fewer)."""
    if length <= 1:
        return []
    if length - 1 <= count:
        return list(range(1, length))
    step = (length - 1) / count
    # An odd offset added to each stride lands on varied byte positions inside events.
    return sorted({min(length - 1, 1 + int(i * step) + (i * 7) % 13) for i in range(count)})
