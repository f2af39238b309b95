"""Hypothesis: o200k_base encoding equals tiktoken's, native equals pure, merges are BPE.

Text is drawn two ways: any Unicode text, and text over an alphabet with a member of
every character class the pre-tokenizer tells apart (so runs, boundaries and
contractions come up often). Sizes stay small: the pure twin is Python.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import PURE, parity_only_in_native_run, require_native
from tests.unit.test_count_tokens import require_oracle

from tokenwire import tokens
from tokenwire._pure import bpe

# One or more of: Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, each kind of whitespace
# (newlines separately), punctuation, symbols, apostrophes and contraction letters
# (including U+017F, which case-folds to s), '/', emoji and a ZWJ.
CLASSY = (
    "AZaz\u01c5\u02b0\u4e00\u3042\u0301\u0903\u20dd09\u2167\u00bd"
    " \t\u000b\u00a0\u3000\u2028\n\r"
    ".,!?-_()[]{}<>|#$%^&*+=~`\"'/\\"
    "stredvmlSTREDVML\u017f"
    "\U0001f98a\u200d\U0001f3fd"
)

classy_text = st.text(alphabet=st.sampled_from(CLASSY), max_size=120)
any_text = st.text(max_size=120)
texts = st.one_of(classy_text, any_text)


# Examples take well under a millisecond: afford more than the profile's default.
@settings(max_examples=400)
@given(texts)
def test_encode_equals_tiktoken(text: str) -> None:
    oracle = require_oracle()
    assert tokens.encode(text) == oracle.encode_ordinary(text)


@settings(max_examples=400)
@given(texts)
def test_native_equals_pure(text: str) -> None:
    parity_only_in_native_run()
    native = require_native()
    ids = native.encode(text)
    assert PURE.encode(text) == ids
    assert native.count_tokens(text) == PURE.count_tokens(text) == len(ids)


@given(st.lists(texts, min_size=1, max_size=4))
def test_whitespace_runs_between_texts(parts: list[str]) -> None:
    # Runs of every length around the pattern's whitespace rules, between arbitrary text.
    text = "   \t ".join(parts) + " " * len(parts)
    oracle = require_oracle()
    assert tokens.encode(text) == oracle.encode_ordinary(text)


_FULL_PATTERN = bpe.build_pattern()


@settings(max_examples=400)
@given(texts)
def test_compact_split_equals_the_full_pattern(text: str) -> None:
    # The pure twin runs the pattern over a compact alphabet; the direct transcription
    # of OpenAI's pattern must split every (surrogate-free) text the same way.
    text = bpe._repair(text)
    assert bpe._encoding("o200k_base").split(text) == _FULL_PATTERN.findall(text)


def _textbook_bpe(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """BPE as written in the papers: merge the lowest-ranked adjacent pair (leftmost
    on ties) until no adjacent pair is a token."""
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while True:
        candidates = [
            (ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1) if parts[i] + parts[i + 1] in ranks
        ]
        if not candidates:
            return [ranks[p] for p in parts]
        _, i = min(candidates)
        parts[i : i + 2] = [parts[i] + parts[i + 1]]


@given(
    st.one_of(
        st.binary(max_size=80),
        st.text(alphabet=st.sampled_from("ab \tes'\n1"), max_size=80).map(str.encode),
        st.text(max_size=30).map(str.encode),
    )
)
def test_pure_merge_is_textbook_bpe(piece: bytes) -> None:
    ranks = bpe._encoding("o200k_base")._ranks
    if piece:
        assert bpe._merge(piece, ranks) == _textbook_bpe(piece, ranks)
