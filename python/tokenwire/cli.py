"""The ``tokenwire`` command line.

``tokenwire demo`` runs the main job end to end with no keys and no network: it streams
the bundled wire-format samples (an OpenAI Chat Completions stream and an Anthropic
Messages stream) through :class:`tokenwire.StreamProcessor`, printing tokens as they
decode, then a summary of events, tokens, the backend that ran and the decode rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Optional, TextIO

import tokenwire

__all__ = ["main"]

# (label, bundled file, dialect)
_DEMO_STREAMS: tuple[tuple[str, str, str], ...] = (
    ("OpenAI chat", "openai-chat.sse", "openai-chat"),
    ("Anthropic messages", "anthropic.sse", "anthropic"),
)


def _demo_bytes(name: str) -> bytes:
    return resources.files("tokenwire").joinpath("data", "demo", name).read_bytes()


class _Style:
    """ANSI styling, only when writing to a terminal (and NO_COLOR is unset)."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty() and "NO_COLOR" not in os.environ

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


@dataclass
class _ToolCall:
    id: Optional[str] = None
    name: Optional[str] = None
    parser: Any = field(default_factory=tokenwire.JsonStreamParser)


@dataclass
class _StreamResult:
    label: str
    dialect: str
    size: int
    events: int
    tokens: int
    text_chars: int
    usage: Any = None
    finish: Optional[str] = None
    tools: dict[int, _ToolCall] = field(default_factory=dict)


def _count_events(data: bytes, dialect: str) -> int:
    if dialect == "ndjson":
        return sum(1 for line in data.splitlines() if line.strip())
    decoder = tokenwire.SSEDecoder()
    return len(decoder.feed(data)) + len(decoder.flush())


def _play(label: str, data: bytes, dialect: str, out: TextIO, style: _Style, chunk: int, delay: float) -> _StreamResult:
    """Feed ``data`` in ``chunk``-byte pieces, printing tokens as they decode."""
    result = _StreamResult(label, dialect, len(data), _count_events(data, dialect), 0, 0)
    processor = tokenwire.StreamProcessor(dialect)
    out.write(style(f"── {label} ({dialect}, {len(data):,} bytes) ──", "1") + "\n")
    mode = ""

    def show(tokens: Sequence[Any]) -> None:
        nonlocal mode
        for token in tokens:
            result.tokens += 1
            kind = token.kind
            if kind in ("text", "reasoning"):
                if kind != mode:
                    out.write("\n" + style("[thinking] " if kind == "reasoning" else "[answer] ", "2"))
                    mode = kind
                out.write(style(token.text, "2;3") if kind == "reasoning" else token.text)
                result.text_chars += len(token.text)
            elif kind == "tool_call":
                call = result.tools.setdefault(token.index, _ToolCall())
                call.id = call.id or token.id
                call.name = call.name or token.name
                if token.arguments:
                    call.parser.feed(token.arguments)
            elif kind == "usage":
                result.usage = token
            elif kind == "finish":
                result.finish = token.reason
        out.flush()

    for start in range(0, len(data), chunk):
        show(processor.feed(data[start : start + chunk]))
        if delay:
            time.sleep(delay)
    show(processor.finish())
    out.write("\n")
    for index, call in sorted(result.tools.items()):
        out.write(style(f"[tool call {index}] ", "36") + f"{call.name}({call.parser.finish()!r})  id={call.id}\n")
    if result.usage is not None:
        u = result.usage
        out.write(
            style("[usage] ", "32")
            + f"input={u.input_tokens} output={u.output_tokens} cache_read={u.cache_read_tokens} "
            f"cache_write={u.cache_write_tokens} reasoning={u.reasoning_tokens}  finish={result.finish}\n"
        )
    out.write("\n")
    return result


def _decode_rate(data: bytes, dialect: str, seconds: float = 0.25) -> tuple[float, float]:
    """Bytes/s and events/s for decoding ``data`` in 16 KiB chunks, measured for ~``seconds``."""
    events = _count_events(data, dialect)
    runs = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        processor = tokenwire.StreamProcessor(dialect)
        for start in range(0, len(data), 16384):
            processor.feed(data[start : start + 16384])
        processor.finish()
        runs += 1
        elapsed = time.perf_counter() - started
    return runs * len(data) / elapsed, runs * events / elapsed


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    style = _Style(out)
    out.write(
        style(f"tokenwire {tokenwire.__version__}", "1")
        + f" · streaming core: {tokenwire.backend()} · no network, no keys\n\n"
    )
    results = []
    for label, name, dialect in _DEMO_STREAMS:
        data = _demo_bytes(name)
        results.append((_play(label, data, dialect, out, style, args.chunk, args.delay), data))

    header = f"{'stream':<20} {'events':>7} {'tokens':>7} {'chars':>7} {'decode MB/s':>12} {'events/s':>11}"
    out.write(style(header, "1") + "\n")
    for result, data in results:
        rate, event_rate = _decode_rate(data, result.dialect)
        out.write(
            f"{result.label:<20} {result.events:>7} {result.tokens:>7} {result.text_chars:>7} "
            f"{rate / 1e6:>12.1f} {event_rate:>11,.0f}\n"
        )
    out.write(f"\nbackend: {tokenwire.backend()} (set TOKENWIRE_PURE_PYTHON=1 to run the pure-Python twin)\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenwire", description="tokenwire: one fast client for every LLM provider")
    parser.add_argument("--version", action="version", version=f"tokenwire {tokenwire.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="stream bundled provider samples through the native core (no network)")
    demo.add_argument("--chunk", type=int, default=64, help="bytes per network chunk to simulate (default 64)")
    demo.add_argument("--delay", type=float, default=0.002, help="seconds to pause between chunks (default 0.002)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``tokenwire`` console script and ``python -m tokenwire``."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        if args.chunk < 1:
            raise SystemExit("--chunk must be at least 1")
        return _demo(args, sys.stdout)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects unknown commands first
