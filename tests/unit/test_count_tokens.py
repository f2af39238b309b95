"""count_tokens / encode (o200k_base) and Roo-Code's input estimate.

The oracle is OpenAI's ``tiktoken`` package, loaded offline with our ranks file through
its own ``o200k_base`` definition (pattern, special tokens, expected file hash): the
loader checks the file's SHA-256 against the hash tiktoken expects, so the oracle is
tiktoken's encoding exactly. The public API tests run once per backend; native-vs-pure
parity runs in the native run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional
from unittest import mock

import pytest
from tests.conftest import BACKEND, PURE, parity_only_in_native_run, require_native

import tokenwire
from tokenwire import tokens
from tokenwire._pure import bpe
from tokenwire.types import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall

RANKS = bpe.DATA_DIR / "o200k_base.tiktoken"
# What tiktoken_ext.openai_public expects of OpenAI's published o200k_base file.
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


@functools.cache
def tiktoken_oracle() -> Optional[Any]:
    """tiktoken's o200k_base built from our ranks file, or None if tiktoken is absent."""
    try:
        import tiktoken
        from tiktoken_ext import openai_public
    except ImportError:
        return None

    def load_local(url: str, expected_hash: Optional[str] = None) -> dict[bytes, int]:
        data = RANKS.read_bytes()
        assert url.endswith("/o200k_base.tiktoken")
        assert hashlib.sha256(data).hexdigest() == expected_hash, "ranks file differs from OpenAI's"
        return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines())}

    with mock.patch.object(openai_public, "load_tiktoken_bpe", load_local):
        spec = openai_public.o200k_base()
    return tiktoken.Encoding(**spec)


def require_oracle() -> Any:
    oracle = tiktoken_oracle()
    if oracle is None:
        pytest.skip("tiktoken is not installed (requirements-dev.txt)")
    return oracle


CORPUS: list[str] = [
    "",
    "hello world",
    "Hello, World! How are you doing today?",
    # prose with contractions, including the case-folded suffixes ('S; U+017F, the long s, folds to s)
    "I'm sure they're here; we've seen it, you'll see, he'd know, it's John's, DON'T, I'M, HE'S, it'\u017f, x'Ll",
    "'s 't 're 've 'm 'll 'd ' s '",
    # code
    "def count(text: str) -> int:\n    return len(encode(text))  # tokens\n\n\nclass A:\n\tpass\n",
    'fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    println!("{v:?}");\n}\r\n',
    "SELECT id, name FROM users WHERE email LIKE '%@example.com' ORDER BY created_at DESC;",
    "path/to/file.py:12:5: E501 line too long (121 > 120 characters)\n//comment\n/* x */ a/b//c",
    # CJK, other scripts, combining marks
    "東京は日本の首都です。人口は約1400万人。漢字、ひらがな、カタカナ。",
    "한국어 텍스트와 English 혼합 문장입니다.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "مرحبا بالعالم — שלום עולם — नमस्ते दुनिया — สวัสดีชาวโลก",
    "Zalgo: Z\u0301\u0302\u0303a\u0304\u0305l\u0306g\u0307o\u0308 e\u0301 n\u0303 \u0301\u0301start",
    "Ǆemal ǅemal ǆemal ΣΊΣΥΦΟΣ ﬁ ﬂ ß ẞ µ Å K",
    # emoji: ZWJ sequences, skin tones, flags, keycaps
    "🦊🚀👍🏽 👨‍👩‍👧‍👦 🇯🇵🇫🇷 1️⃣ ❤️‍🔥 🏳️‍🌈",
    # whitespace runs
    "a  b   c    d\t\te\n\nf\r\n\r\ng \n \n h",
    "   leading and trailing   ",
    "\n\n\n",
    " " * 17 + "x" + "\t" * 9 + "y" + "\n" * 5 + " " * 3,
    "\u00a0\u00a0nbsp\u2003em\u3000ideographic\u2028line\u2029para\u0085nel",
    "\x1c\x1d\x1e\x1f separators \x0b\x0c vt ff",
    "tabs\t \t \tthen.\n  \n  .\n/",
    # numbers
    "1 12 123 1234 12345 123456 1234567 3.14159 -42 1,000,000 1e-9 0x1F 2024-06-11",
    "Phone +1 (555) 123-4567, order #98765, ¼ ½ ¾ ² ³ Ⅻ ٣٤٥ ४५६",
    # very long words
    "a" * 3000,
    "supercalifragilisticexpialidocious" * 40,
    "Antidisestablishmentarianism" + "x" * 500 + "ism",
    base64.b64encode(bytes(range(256)) * 8).decode(),
    hashlib.sha256(b"x").hexdigest() * 20,
    "!" * 700 + "?" * 3 + "." * 300,
    # special-token strings are plain text
    "<|endoftext|>",
    "Hello <|endoftext|> world <|endofprompt|><|fim_prefix|><|im_start|>user\n<|im_end|>",
    "<|endoftext|>" * 5,
    # control characters and odd code points
    "\x00\x01\x02 nul \x7f del \ufeff bom \ufffd replacement \U0010ffff max \ue000 private",
]

# Bounded so the pure twin stays fast; the native run also takes the long-run tests.
MEDIUM_RUNS = [" " * 5000 + "a", " " * 5000, "\n" * 4000, " \t" * 2000 + ".", "\u3000" * 3000 + "字"]


@pytest.mark.parametrize("text", CORPUS + MEDIUM_RUNS, ids=range(len(CORPUS) + len(MEDIUM_RUNS)))
def test_encode_equals_tiktoken(text: str) -> None:
    oracle = require_oracle()
    expected = oracle.encode_ordinary(text)
    assert tokens.encode(text) == expected
    assert tokens.count_tokens(text) == len(expected)


@pytest.mark.parametrize("text", CORPUS + MEDIUM_RUNS, ids=range(len(CORPUS) + len(MEDIUM_RUNS)))
def test_native_equals_pure(text: str) -> None:
    parity_only_in_native_run()
    native = require_native()
    assert native.encode(text) == PURE.encode(text)
    assert native.count_tokens(text) == PURE.count_tokens(text) == len(PURE.encode(text))


def test_known_ids() -> None:
    # Facts from OpenAI's tiktoken (o200k_base), independent of the oracle.
    assert tokens.encode("hello world") == [24912, 2375]
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("hello world", "o200k_base") == 2
    assert tokens.count_tokens(text="hello world", encoding="o200k_base") == 2


def test_empty_string_is_zero() -> None:
    assert tokens.count_tokens("") == 0
    assert tokens.encode("") == []


def test_special_token_strings_are_ordinary_text() -> None:
    for special, rank in (("<|endoftext|>", 199_999), ("<|endofprompt|>", 200_018)):
        ids = tokens.encode(special)
        assert rank not in ids
        assert len(ids) > 1
        assert tokens.count_tokens(f"a {special} b") > 3


def test_lone_surrogates_are_repaired_like_tiktoken() -> None:
    # A well-ordered pair joins into its code point; a lone surrogate becomes U+FFFD.
    assert tokens.encode("\ud83e\udd8a") == tokens.encode("🦊")
    assert tokens.encode("a\ud800b") == tokens.encode("a\ufffdb")
    assert tokens.encode("\udc00\ud800") == tokens.encode("\ufffd\ufffd")
    oracle = tiktoken_oracle()
    if oracle is not None:
        for text in ("a\ud800b", "\ud83e\udd8a x", "\udfff", "x\ud800\ud800\udc00y"):
            assert tokens.encode(text) == oracle.encode_ordinary(text)


def test_str_subclass_is_accepted() -> None:
    class Text(str):
        pass

    assert tokens.count_tokens(Text("hello world")) == 2


def test_unknown_encoding_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        tokens.count_tokens("x", "cl100k_base")
    with pytest.raises(ValueError, match="o200k_base"):
        tokens.encode("x", "")
    assert tokens.ENCODINGS == ("o200k_base",)


def test_non_str_is_a_type_error() -> None:
    for bad in (b"bytes", 1, None):
        with pytest.raises(TypeError):
            tokens.count_tokens(bad)  # type: ignore[arg-type]


def test_long_whitespace_runs_native() -> None:
    # tiktoken's own pattern overflows fancy-regex's backtracking stack near a million
    # whitespace characters (tiktoken raises a Rust panic); the native core does not.
    native = require_native()
    n = 1_050_000
    # The run backs off one space for the word (" a" is one token); the rest encodes as
    # the same run at the end of a text does.
    assert native.count_tokens(" " * n + "a") == native.count_tokens(" " * (n - 1)) + 1
    assert native.count_tokens("\t\u00a0" * (n // 2) + ".") > 0


def test_ranks_file_is_openais() -> None:
    data = RANKS.read_bytes()
    assert hashlib.sha256(data).hexdigest() == O200K_SHA256
    assert len(data.splitlines()) == 199_998


# ---------------------------------------------------------------------------
# Lazy loading
# ---------------------------------------------------------------------------

LAZY_PROBE = textwrap.dedent(
    """
    import json, sys
    opened = []
    sys.addaudithook(lambda event, args: event == "open" and opened.append(str(args[0])))

    def bytes_read():
        with open("/proc/self/io") as f:
            return int(next(line for line in f if line.startswith("rchar:")).split()[1])

    before = bytes_read()
    import tokenwire, tokenwire.tokens, tokenwire._pure.bpe
    imported = bytes_read()
    at_import = [p for p in opened if "o200k" in p or "pretokenizer" in p]
    count = tokenwire.tokens.count_tokens("hello world")
    counted = bytes_read()
    print(json.dumps({
        "backend": tokenwire.backend(),
        "opened_at_import": at_import,
        "opened_at_first_call": [p for p in opened if "o200k" in p or "pretokenizer" in p],
        "read_at_import": imported - before,
        "read_at_first_call": counted - imported,
        "count": count,
    }))
    """
)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io to count bytes read")
def test_ranks_load_on_first_call_not_at_import() -> None:
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    probe = json.loads(result.stdout)
    assert probe["backend"] == BACKEND
    assert probe["count"] == 2
    # Nothing of the tokenizer is opened by Python code at import (the pure twin opens
    # its files through Python; the native core reads through Rust, which the audit
    # hook cannot see, hence the byte counter below).
    assert probe["opened_at_import"] == []
    if BACKEND == "python":
        assert any(p.endswith("o200k_base.tiktoken") for p in probe["opened_at_first_call"])
    # The ranks are read once per process, so a first call that reads the whole file
    # proves the import did not.
    assert probe["read_at_first_call"] >= RANKS.stat().st_size, probe


# ---------------------------------------------------------------------------
# The pure twin's loader and pattern
# ---------------------------------------------------------------------------


def test_pure_loader_rejects_bad_files(tmp_path: Path) -> None:
    def load(content: bytes) -> str:
        path = tmp_path / "ranks.tiktoken"
        path.write_bytes(content)
        with pytest.raises(ValueError) as info:
            bpe.load_ranks("o200k_base", path)
        return str(info.value)

    assert "0 tokens" in load(b"")
    assert "no space" in load(b"IQ==\n")
    assert "not base64" in load(b"!!!! 0\n")
    assert "not base64" in load(b"IQ= 0\n")
    assert "not an integer" in load(b"IQ== x\n")
    assert "duplicate rank" in load(b"IQ== 0\nIg== 0\n")
    assert "duplicate token" in load(b"IQ== 0\nIQ== 1\n")
    assert "out of range" in load(b"IQ== 999999\n")
    lines = [base64.b64encode(bytes([r]) if r < 255 else f"t{r}".encode()) + b" %d" % r for r in range(199_998)]
    assert "single-byte token is missing" in load(b"\n".join(lines))
    with pytest.raises(OSError, match="cannot read the o200k_base ranks file"):
        bpe.load_ranks("o200k_base", tmp_path / "missing.tiktoken")
    with pytest.raises(ValueError, match="unknown encoding"):
        bpe.load_ranks("p50k_base")


def test_pure_pattern_uses_the_engine_case_folds() -> None:
    pattern = bpe.build_pattern()
    assert pattern.findall("it'\u017f IT'S it's") == ["it'\u017f", " IT'S", " it's"]
    assert pattern.findall("  x") == [" ", " x"]
    assert pattern.findall("a \n\n b") == ["a", " \n\n", " b"]


# ---------------------------------------------------------------------------
# Roo-Code's input estimate
# ---------------------------------------------------------------------------


def test_image_estimate() -> None:
    assert tokens.image_tokens(ImagePart(data="A" * 10_000)) == 100
    assert tokens.image_tokens(ImagePart(data="A" * 10_001)) == 101
    assert tokens.image_tokens(ImagePart(data="A" * 101)) == 11
    assert tokens.image_tokens(ImagePart(data="")) == 0
    assert tokens.image_tokens(ImagePart(url="https://example.com/cat.png")) == tokens.UNKNOWN_IMAGE_TOKENS == 300


def test_estimate_text_image_and_fudge() -> None:
    # "hello world" is 2 tokens; a 101-char base64 image is ceil(sqrt(101)) = 11;
    # (2 + 11) * 1.5 = 19.5 -> 20.
    request = ChatRequest(
        model="m",
        messages=(Message("user", (TextPart("hello world"), ImagePart(data="A" * 101))),),
    )
    assert tokens.estimate_input_tokens(request) == 20
    # System "hello world" (2) + user "hello world" (2) + URL image (300): 304 * 1.5 = 456.
    request = ChatRequest(
        model="m",
        system="hello world",
        messages=(Message("user", (TextPart("hello world"), ImagePart(url="https://x/y.png"))),),
    )
    assert tokens.estimate_input_tokens(request) == 456


def test_estimate_counts_every_text() -> None:
    c = tokens.count_tokens
    tool = Tool("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})
    call = ToolCall("call_1", "read_file", '{"path": "a.py"}')
    request = ChatRequest(
        model="m",
        system="You are a careful assistant.",
        messages=(
            Message("user", "Show me a.py <|endoftext|>"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "print('hi')\n", tool_call_id="call_1"),
            Message("assistant", "It prints hi."),
        ),
        tools=(tool,),
    )
    tool_json = json.dumps(
        {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    raw = (
        c("You are a careful assistant.")
        + c(tool_json)
        + c("Show me a.py <|endoftext|>")
        + c("read_file")
        + c('{"path": "a.py"}')
        + c("print('hi')\n")
        + c("It prints hi.")
    )
    expected = -(-raw * 3 // 2)  # ceil(raw * 1.5)
    assert tokens.estimate_input_tokens(request) == expected


def test_estimate_of_an_empty_request_is_zero() -> None:
    assert tokens.estimate_input_tokens(ChatRequest(model="m", messages=(Message("user", ""),))) == 0


def test_fudge_rounds_up_odd_totals() -> None:
    # One token: ceil(1.5) = 2; three tokens: ceil(4.5) = 5.
    one = ChatRequest(model="m", messages=(Message("user", "hello"),))
    assert tokens.count_tokens("hello") == 1
    assert tokens.estimate_input_tokens(one) == 2
    three = ChatRequest(model="m", messages=(Message("user", "hello world"),), system="hello")
    assert tokens.estimate_input_tokens(three) == 5


def test_public_module_uses_the_active_backend() -> None:
    assert tokenwire.backend() == BACKEND
    expected = require_native().count_tokens if BACKEND == "native" else PURE.count_tokens
    assert tokens.count_tokens is expected
