"""count_tokens (o200k_base) on ~100 KB of mixed text: native vs tiktoken vs the pure twin.

- ``native``: ``tokenwire._native.count_tokens`` (tiktoken-rs's CoreBPE, GIL released);
- ``tiktoken``: OpenAI's ``tiktoken`` package, ``len(encode_ordinary(text))``, built
  offline from our ranks file through its own ``o200k_base`` definition;
- ``pure``: ``tokenwire._pure.count_tokens`` with its piece cache cleared before every
  round (a warm cache on a repeated text would flatter it).

The text is generated deterministically: English prose, Python code, German, Japanese
and Chinese, emoji, numbers, and whitespace runs. ``test_ratios`` times the three
interleaved in one loop and adds medians and ratios to the end-of-run report, with the
first-call cost (reading the ranks and building the encoding) of native and pure, each
in a fresh process. Run with ``make bench``.
"""

from __future__ import annotations

import base64
import hashlib
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, Optional
from unittest import mock

import pytest

from tokenwire import _pure
from tokenwire._pure import bpe

try:
    from tokenwire import _native
except ImportError:  # pragma: no cover
    _native = None  # type: ignore[assignment]

GROUP = "count_tokens: ~100 KB mixed text (o200k_base)"

PROSE = (
    "The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while", "it's",
    "raining", "and", "they're", "counting", "tokens", "per", "request,", "model", "provider",
    "latency", "streaming", "responses", "don't", "always", "arrive", "in", "order.",
)  # fmt: skip
GERMAN = ("Größe", "Übermäßig", "schnell", "ändern", "Straße", "Fußgänger", "über", "die", "Brücke")
CJK = ("東京", "日本語", "の", "テキスト", "を", "数える", "。", "人工知能", "模型", "计算", "令牌", "\uff0c")
EMOJI = ("🦊", "🚀", "👍🏽", "👨‍👩‍👧", "🇯🇵", "✨")
CODE = (
    "def count_tokens(text: str, encoding: str = 'o200k_base') -> int:",
    "    return len(_ENCODING.encode_ordinary(text))",
    "for i, chunk in enumerate(stream):",
    "\tif chunk.usage is not None:  # the last chunk",
    '        payload = {"model": model, "messages": messages, "max_tokens": 1024}',
    "x = [a ** 2 for a in range(10_000) if a % 3 == 0]",
)  # fmt: skip


def make_text(target: int = 100_000) -> str:
    """A deterministic mixed text of about ``target`` bytes (UTF-8)."""
    rng = random.Random(20240611)
    parts: list[str] = []
    size = 0
    while size < target:
        kind = rng.random()
        if kind < 0.45:
            chunk = " ".join(rng.choice(PROSE) for _ in range(rng.randint(8, 30))) + "\n\n"
        elif kind < 0.65:
            chunk = "\n".join(rng.choice(CODE) for _ in range(rng.randint(2, 8))) + "\n"
        elif kind < 0.75:
            chunk = " ".join(rng.choice(GERMAN) for _ in range(rng.randint(5, 15))) + ". "
        elif kind < 0.87:
            chunk = "".join(rng.choice(CJK) for _ in range(rng.randint(10, 40))) + "\n"
        elif kind < 0.93:
            chunk = " ".join(rng.choice(EMOJI) for _ in range(rng.randint(2, 8))) + " "
        elif kind < 0.97:
            chunk = f"{rng.randint(0, 10**9)} {rng.random():.6f} 2024-06-{rng.randint(10, 30)} "
        else:
            chunk = " " * rng.randint(2, 40) + "\t" * rng.randint(0, 4) + "\n" * rng.randint(1, 3)
        parts.append(chunk)
        size += len(chunk.encode())
    return "".join(parts)


TEXT = make_text()


def tiktoken_encoding() -> Any:
    """tiktoken's o200k_base from our ranks file (its download is replaced by a local
    read that checks the SHA-256 tiktoken expects)."""
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken_ext import openai_public

    ranks_path = bpe.DATA_DIR / "o200k_base.tiktoken"

    def load_local(url: str, expected_hash: Optional[str] = None) -> dict[bytes, int]:
        data = ranks_path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == expected_hash
        return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines())}

    with mock.patch.object(openai_public, "load_tiktoken_bpe", load_local):
        return tiktoken.Encoding(**openai_public.o200k_base())


def native_module() -> Any:
    if _native is None:
        pytest.skip("tokenwire._native is not built")
    return _native


def clear_pure_cache() -> None:
    bpe._encoding("o200k_base")._cache.clear()


@pytest.fixture(scope="module")
def expected() -> int:
    return _pure.count_tokens(TEXT)


@pytest.mark.benchmark(group=GROUP)
def test_native(benchmark: Any, expected: int) -> None:
    native = native_module()
    native.count_tokens("warm up: load the ranks")
    assert benchmark.pedantic(native.count_tokens, args=(TEXT,), rounds=50, warmup_rounds=2) == expected


@pytest.mark.benchmark(group=GROUP)
def test_tiktoken(benchmark: Any, expected: int) -> None:
    encoding = tiktoken_encoding()

    def count() -> int:
        return len(encoding.encode_ordinary(TEXT))

    assert benchmark.pedantic(count, rounds=50, warmup_rounds=2) == expected


@pytest.mark.benchmark(group=GROUP)
def test_pure(benchmark: Any, expected: int) -> None:
    def setup() -> tuple[tuple[str], dict[str, Any]]:
        clear_pure_cache()
        return (TEXT,), {}

    assert benchmark.pedantic(_pure.count_tokens, setup=setup, rounds=10, warmup_rounds=1) == expected


FIRST_CALL = """
import time
from tokenwire import {module} as m
start = time.perf_counter()
m.count_tokens("hello")
print(time.perf_counter() - start)
"""


def first_call_seconds(module: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALL.format(module=module)], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def test_ratios(benchmark: Any, bench_report: Callable[[str], None], expected: int) -> None:
    """All three interleaved in one loop; medians and ratios go to the report."""
    native = native_module()
    encoding = tiktoken_encoding()
    native.count_tokens("warm up")

    def pure_cold(text: str) -> int:
        clear_pure_cache()
        return _pure.count_tokens(text)

    variants: dict[str, Callable[[str], int]] = {
        "native": native.count_tokens,
        "tiktoken": lambda text: len(encoding.encode_ordinary(text)),
        "pure": pure_cold,
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}

    def run() -> None:
        for round_ in range(12):
            for name, fn in variants.items():
                if name == "pure" and round_ % 3:
                    continue  # the pure twin is ~10x slower: fewer rounds
                start = time.perf_counter()
                assert fn(TEXT) == expected
                samples[name].append(time.perf_counter() - start)

    benchmark.group = GROUP + " (interleaved ratios)"
    benchmark.pedantic(run, rounds=1, iterations=1)
    median = {name: statistics.median(times) for name, times in samples.items()}
    loads = {name: first_call_seconds(f"_{name}") for name in ("native", "pure")}
    size = len(TEXT.encode())
    lines = [
        f"count_tokens on {size:,} bytes ({expected:,} tokens), medians of interleaved rounds:",
        *(f"  {name:<9} {t * 1e3:8.2f} ms  {size / t / 1e6:6.1f} MB/s" for name, t in median.items()),
        f"  native / tiktoken = {median['native'] / median['tiktoken']:.3f}x time"
        f"   pure / native = {median['pure'] / median['native']:.1f}x time",
        "  first call in a fresh process (read ranks + build): "
        + ", ".join(f"{name} {t * 1e3:.0f} ms" for name, t in loads.items()),
    ]
    benchmark.extra_info.update(
        {
            "median_ms": {name: round(t * 1e3, 3) for name, t in median.items()},
            "first_call_ms": {name: round(t * 1e3, 1) for name, t in loads.items()},
        }
    )
    bench_report("\n".join(lines))
