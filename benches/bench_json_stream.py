"""JsonStreamParser on a streamed tool call: native vs the pure twin vs jiter re-parsing.

One ~20 KB tool-argument document (a ``write_file``-style call: a long ``content`` string
with some non-ASCII text, then a nested list of edit objects), generated
deterministically and fed in 5-character deltas, as a provider streams arguments:

- ``native-value-every-delta``: feed every delta and call ``value()`` after each, which is
  what a UI showing partial arguments does;
- ``native-value-at-end``: feed every delta, ``value()`` once at the end;
- ``pure-value-every-delta``: the pure-Python twin, as the first;
- ``jiter-reparse-every-delta``: what the official SDKs do — re-parse the accumulated text
  after each delta with ``jiter.from_json(acc.encode(), partial_mode="trailing-strings")``
  (O(n²) over the stream).

All four are in one group so their ratios are read from one run: ``make bench``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tokenwire import _pure

try:
    from tokenwire import _native
except ImportError:  # pragma: no cover
    _native = None  # type: ignore[assignment]

DELTA = 5
WORDS = (
    "def", "return", "self", "value", "parser", "stream", "token", "await", "async", "import",
    "class", "None", "True", "for", "in", "if", "else", "café", "naïve", "—", "→", "résumé",
)  # fmt: skip


def make_document(target: int = 20_000) -> str:
    """A deterministic ~``target``-character tool-call arguments document."""
    rng = random.Random(20240611)
    lines: list[str] = []
    size = 0
    while size < target * 0.6:
        indent = "    " * rng.randint(0, 3)
        line = indent + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10)))
        if rng.random() < 0.1:
            line += '  # "quoted" \\ path\\to\\file'
        lines.append(line)
        size += len(line) + 1
    edits: list[dict[str, Any]] = []
    args: dict[str, Any] = {"path": "src/tokenwire/streaming.py", "content": "\n".join(lines), "edits": edits}
    while len(json.dumps(args, ensure_ascii=False)) < target:
        n = len(edits)
        edits.append(
            {
                "line": rng.randint(1, 2000),
                "old": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))),
                "new": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))),
                "replace_all": n % 3 == 0,
                "score": round(rng.random() * 100, 3),
                "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 3))],
                "meta": {"id": f"edit-{n}", "author": None, "confidence": rng.random()},
            }
        )
    args["overwrite"] = True
    return json.dumps(args, ensure_ascii=False)


DOC = make_document()
DELTAS = [DOC[i : i + DELTA] for i in range(0, len(DOC), DELTA)]
EXPECTED = json.loads(DOC)


def feed_value_every_delta(module: ModuleType) -> Any:
    parser = module.JsonStreamParser()
    shown: Any = None
    for delta in DELTAS:
        parser.feed(delta)
        # A UI keeps showing the previous value until the new one replaces it.
        shown = parser.value()
    del shown
    return parser.finish()


def feed_value_at_end(module: ModuleType) -> Any:
    parser = module.JsonStreamParser()
    for delta in DELTAS:
        parser.feed(delta)
    return parser.finish()


def jiter_reparse_every_delta() -> Any:
    import jiter

    acc = ""
    value: Any = None
    for delta in DELTAS:
        acc += delta
        value = jiter.from_json(acc.encode(), partial_mode="trailing-strings")
    return value


def native_module() -> ModuleType:
    if _native is None:
        pytest.skip("tokenwire._native is not built")
    return _native


def run(benchmark: Any, fn: Callable[..., Any], *args: Any, rounds: int) -> None:
    result = benchmark.pedantic(fn, args=args, rounds=rounds, iterations=1, warmup_rounds=1)
    assert result == EXPECTED


@pytest.mark.benchmark(group="json_stream: 20 KB tool call in 5-char deltas")
def test_native_value_every_delta(benchmark: Any) -> None:
    run(benchmark, feed_value_every_delta, native_module(), rounds=30)


@pytest.mark.benchmark(group="json_stream: 20 KB tool call in 5-char deltas")
def test_native_value_at_end(benchmark: Any) -> None:
    run(benchmark, feed_value_at_end, native_module(), rounds=200)


@pytest.mark.benchmark(group="json_stream: 20 KB tool call in 5-char deltas")
def test_pure_value_every_delta(benchmark: Any) -> None:
    run(benchmark, feed_value_every_delta, _pure, rounds=5)


@pytest.mark.benchmark(group="json_stream: 20 KB tool call in 5-char deltas")
def test_jiter_reparse_every_delta(benchmark: Any) -> None:
    pytest.importorskip("jiter")
    run(benchmark, jiter_reparse_every_delta, rounds=10)
