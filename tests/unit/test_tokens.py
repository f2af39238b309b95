"""Stream token classes on the public backend, plus native/pure repr parity."""

from __future__ import annotations

import copy
import operator
import pickle
import sys
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import PURE, parity_only_in_native_run, require_native

import tokenwire
from tokenwire import Citation, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage

# One instance of each class with every field set, and its expected facts.
SAMPLES: list[tuple[Any, str, tuple[str, ...], str]] = [
    (TextDelta("Hello"), "text", ("text",), "TextDelta(text='Hello')"),
    (ReasoningDelta("Hmm"), "reasoning", ("text",), "ReasoningDelta(text='Hmm')"),
    (
        ToolCallDelta(2, "call_1", "get_weather", '{"city":'),
        "tool_call",
        ("index", "id", "name", "arguments"),
        "ToolCallDelta(index=2, id='call_1', name='get_weather', arguments='{\"city\":')",
    ),
    (
        Usage(10, 20, 3, 4, 5),
        "usage",
        ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"),
        "Usage(input_tokens=10, output_tokens=20, cache_read_tokens=3, cache_write_tokens=4, reasoning_tokens=5)",
    ),
    (
        Citation("https://example.com/a", "A page"),
        "citation",
        ("url", "title"),
        "Citation(url='https://example.com/a', title='A page')",
    ),
    (Finish("end_turn"), "finish", ("reason",), "Finish(reason='end_turn')"),
]
IDS = [type(s[0]).__name__ for s in SAMPLES]


def _fields(token: Any) -> tuple[Any, ...]:
    return tuple(getattr(token, name) for name in type(token).__match_args__)


def _rebuild(token: Any, **changes: Any) -> Any:
    values = {name: getattr(token, name) for name in type(token).__match_args__}
    values.update(changes)
    return type(token)(**values)


def test_public_classes_come_from_the_backend() -> None:
    module = "tokenwire._native" if tokenwire.backend() == "native" else "tokenwire._pure.tokens"
    for cls in (TextDelta, ReasoningDelta, ToolCallDelta, Usage, Citation, Finish):
        assert cls.__module__ == module


def test_constructor_defaults() -> None:
    call = ToolCallDelta(0)
    assert (call.index, call.id, call.name, call.arguments) == (0, None, None, "")
    assert _fields(Usage()) == (0, 0, 0, 0, 0)
    assert Usage(output_tokens=7).output_tokens == 7
    assert Citation("u").title is None


def test_keyword_construction() -> None:
    assert ToolCallDelta(index=1, id="c", name="f", arguments="{}") == ToolCallDelta(1, "c", "f", "{}")
    assert Usage(reasoning_tokens=3, input_tokens=1) == Usage(1, 0, 0, 0, 3)
    assert Citation(url="u", title="t") == Citation("u", "t")
    assert TextDelta(text="x") == TextDelta("x")
    assert Finish(reason="stop") == Finish("stop")


@pytest.mark.parametrize(("token", "kind", "match_args", "text"), SAMPLES, ids=IDS)
def test_kind_and_match_args(token: Any, kind: str, match_args: tuple[str, ...], text: str) -> None:
    assert token.kind == kind
    assert type(token).kind == kind
    assert type(token).__match_args__ == match_args
    assert token.__match_args__ == match_args


@pytest.mark.parametrize(("token", "kind", "match_args", "text"), SAMPLES, ids=IDS)
def test_repr(token: Any, kind: str, match_args: tuple[str, ...], text: str) -> None:
    assert repr(token) == text
    assert eval(repr(token), {type(token).__name__: type(token)}) == token


def test_repr_escapes_like_python() -> None:
    weird = 'it\'s "q" \\ \n\t\x00\x7f\x80\u2028\ud7ff\U0001f600 é'
    assert repr(TextDelta(weird)) == f"TextDelta(text={weird!r})"
    assert repr(Citation(weird)) == f"Citation(url={weird!r}, title=None)"
    assert repr(ToolCallDelta(0, None, weird)) == f"ToolCallDelta(index=0, id=None, name={weird!r}, arguments='')"


@pytest.mark.parametrize(("token", "kind", "match_args", "text"), SAMPLES, ids=IDS)
def test_equality_and_hash(token: Any, kind: str, match_args: tuple[str, ...], text: str) -> None:
    twin = _rebuild(token)
    assert token is not twin
    assert token == twin
    assert operator.ne(token, twin) is False
    assert hash(token) == hash(twin)
    assert len({token, twin}) == 1
    assert {token: 1}[twin] == 1
    # Any one field differing makes them unequal.
    for name in match_args:
        value = getattr(token, name)
        other = _rebuild(token, **{name: value + 1 if isinstance(value, int) else value + "x"})
        assert token != other
        assert operator.eq(token, other) is False


def test_tokens_of_different_kinds_are_unequal() -> None:
    assert TextDelta("a") != ReasoningDelta("a")
    assert ReasoningDelta("a") != TextDelta("a")
    assert TextDelta("stop") != Finish("stop")
    assert TextDelta("a") != "a"
    assert Usage() != 0
    assert Usage() != (0, 0, 0, 0, 0)
    assert Citation("u") != None  # noqa: E711 - comparison to None is what is under test
    assert len({TextDelta("a"), ReasoningDelta("a")}) == 2


def test_tokens_are_not_ordered() -> None:
    with pytest.raises(TypeError):
        _ = TextDelta("a") < TextDelta("b")  # type: ignore[operator]


def test_optional_fields_compare_none_and_empty_apart() -> None:
    assert ToolCallDelta(0, None) != ToolCallDelta(0, "")
    assert Citation("u", None) != Citation("u", "")


@pytest.mark.parametrize(("token", "kind", "match_args", "text"), SAMPLES, ids=IDS)
def test_frozen(token: Any, kind: str, match_args: tuple[str, ...], text: str) -> None:
    before = _fields(token)
    for name in match_args:
        with pytest.raises(AttributeError):
            setattr(token, name, getattr(token, name))
        with pytest.raises(AttributeError):
            delattr(token, name)
    with pytest.raises(AttributeError):
        token.extra = 1
    with pytest.raises(AttributeError):
        token.kind = "other"
    assert _fields(token) == before
    assert not hasattr(token, "__dict__")  # slotted: no per-instance dict


@pytest.mark.parametrize(("token", "kind", "match_args", "text"), SAMPLES, ids=IDS)
def test_pickle_and_copy_round_trip(token: Any, kind: str, match_args: tuple[str, ...], text: str) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(token, protocol=protocol))
        assert type(clone) is type(token)
        assert clone == token
        assert _fields(clone) == _fields(token)
    assert copy.copy(token) == token
    assert copy.deepcopy(token) == token


def test_optional_none_survives_pickle() -> None:
    token = ToolCallDelta(3)
    assert pickle.loads(pickle.dumps(token)) == token
    assert pickle.loads(pickle.dumps(Citation("u"))).title is None


_MATCH_SOURCE = """
def describe(token):
    match token:
        case TextDelta(text):
            return ("text", text)
        case ReasoningDelta(text=text):
            return ("reasoning", text)
        case ToolCallDelta(index, id, name, arguments):
            return ("call", index, id, name, arguments)
        case Usage(input_tokens, output_tokens, _, _, reasoning):
            return ("usage", input_tokens, output_tokens, reasoning)
        case Citation(url, None):
            return ("bare citation", url)
        case Citation(url, title):
            return ("citation", url, title)
        case Finish("stop" | "end_turn"):
            return ("done",)
        case Finish(reason):
            return ("finish", reason)
    return None
"""


@pytest.mark.skipif(sys.version_info < (3, 10), reason="the match statement needs Python 3.10")
def test_match_statement() -> None:
    # Compiled from a string so this file still parses on Python 3.9.
    namespace: dict[str, Any] = {
        "TextDelta": TextDelta,
        "ReasoningDelta": ReasoningDelta,
        "ToolCallDelta": ToolCallDelta,
        "Usage": Usage,
        "Citation": Citation,
        "Finish": Finish,
    }
    exec(compile(_MATCH_SOURCE, "<match test>", "exec"), namespace)
    describe = namespace["describe"]
    assert describe(TextDelta("hi")) == ("text", "hi")
    assert describe(ReasoningDelta("hmm")) == ("reasoning", "hmm")
    assert describe(ToolCallDelta(1, "c", "f", "{}")) == ("call", 1, "c", "f", "{}")
    assert describe(Usage(1, 2, 3, 4, 5)) == ("usage", 1, 2, 5)
    assert describe(Citation("u")) == ("bare citation", "u")
    assert describe(Citation("u", "t")) == ("citation", "u", "t")
    assert describe(Finish("end_turn")) == ("done",)
    assert describe(Finish("length")) == ("finish", "length")
    assert describe("not a token") is None


# ---------------------------------------------------------------------------
# Usage.cost: keyword-only, outside __match_args__, part of eq/hash/repr
# ---------------------------------------------------------------------------


def test_usage_cost_defaults_to_none_and_is_keyword_only() -> None:
    assert Usage().cost is None
    assert Usage(1, 2, 3, 4, 5).cost is None
    assert Usage(1, cost=0.25).cost == 0.25
    assert Usage(cost=0).cost == 0.0 and type(Usage(cost=0).cost) is float  # ints become floats
    assert type(Usage(cost=True).cost) is float
    with pytest.raises(TypeError):
        Usage(1, 2, 3, 4, 5, 0.5)  # type: ignore[misc]
    for bad in ("0.5", b"0.5", [0.5]):
        with pytest.raises(TypeError):
            Usage(cost=bad)  # type: ignore[arg-type]
    assert "cost" not in Usage.__match_args__


def test_usage_cost_takes_part_in_equality_and_hash() -> None:
    priced = Usage(10, 20, cost=0.0123)
    assert priced == Usage(10, 20, cost=0.0123)
    assert hash(priced) == hash(Usage(10, 20, cost=0.0123))
    assert priced != Usage(10, 20)
    assert priced != Usage(10, 20, cost=0.0124)
    assert Usage(cost=0.0) != Usage()  # a reported zero is not "not reported"
    assert Usage(cost=0.0) == Usage(cost=-0.0)
    assert hash(Usage(cost=0.0)) == hash(Usage(cost=-0.0))
    assert Usage(cost=1) == Usage(cost=1.0)
    assert len({Usage(1), Usage(1, cost=0.5), Usage(1, cost=0.5)}) == 2
    # Compared as floats: NaN never equals, not even itself.
    nan = Usage(cost=float("nan"))
    assert operator.ne(nan, nan) is True
    assert operator.eq(nan, nan) is False
    assert nan != Usage(cost=float("nan"))


def test_usage_cost_repr() -> None:
    assert repr(Usage(1, 2, 3, 4, 5, cost=0.0123)) == (
        "Usage(input_tokens=1, output_tokens=2, cache_read_tokens=3, cache_write_tokens=4, reasoning_tokens=5, "
        "cost=0.0123)"
    )
    # Python's float repr, whatever the magnitude.
    assert repr(Usage(cost=1e-05)).endswith(", cost=1e-05)")
    assert repr(Usage(cost=1e16)).endswith(", cost=1e+16)")
    assert repr(Usage(cost=0.0)).endswith(", reasoning_tokens=0, cost=0.0)")
    assert repr(Usage(cost=float("inf"))).endswith(", cost=inf)")
    assert "cost" not in repr(Usage(1))
    priced = Usage(7, cost=2.5)
    assert eval(repr(priced), {"Usage": Usage}) == priced


def test_usage_cost_is_frozen_and_survives_pickle_and_copy() -> None:
    priced = Usage(1, 2, 3, 4, 5, cost=0.75)
    with pytest.raises(AttributeError):
        priced.cost = 1.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del priced.cost  # type: ignore[misc]
    for token in (priced, Usage(cost=0.0), Usage(1)):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            clone = pickle.loads(pickle.dumps(token, protocol=protocol))
            assert type(clone) is type(token)
            assert clone == token and clone.cost == token.cost
        assert copy.copy(token).cost == token.cost
        assert copy.deepcopy(token) == token


_MATCH_COST_SOURCE = """
def f(usage):
    match usage:
        case Usage(input_tokens, output_tokens, cost=None):
            return ("free", input_tokens, output_tokens)
        case Usage(cost=cost):
            return ("priced", cost)
"""


@pytest.mark.skipif(sys.version_info < (3, 10), reason="the match statement needs Python 3.10")
def test_usage_cost_is_matched_by_keyword_only() -> None:
    namespace: dict[str, Any] = {"Usage": Usage}
    exec(compile(_MATCH_COST_SOURCE, "<match test>", "exec"), namespace)
    assert namespace["f"](Usage(1, 2)) == ("free", 1, 2)
    assert namespace["f"](Usage(1, 2, cost=0.5)) == ("priced", 0.5)


def test_kind_dispatch_covers_every_class() -> None:
    kinds = {type(s[0]).kind for s in SAMPLES}
    assert kinds == {"text", "reasoning", "tool_call", "usage", "citation", "finish"}


# ---------------------------------------------------------------------------
# Parity: native and pure tokens print the same
# ---------------------------------------------------------------------------

# Native strings are UTF-8, so lone surrogates cannot be represented there.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
opt_texts = st.none() | texts
indices = st.integers(0, 2**32 - 1)
counts = st.integers(0, 2**64 - 1)


@given(
    texts,
    opt_texts,
    opt_texts,
    indices,
    st.tuples(counts, counts, counts, counts, counts),
    st.none() | st.floats() | st.integers(0, 2**53),
)
def test_native_and_pure_reprs_and_fields_match(
    text: str,
    maybe_a: Optional[str],
    maybe_b: Optional[str],
    index: int,
    usage: tuple[int, int, int, int, int],
    cost: Optional[float],
) -> None:
    parity_only_in_native_run()
    native = require_native()
    pairs = [
        (native.TextDelta(text), PURE.TextDelta(text)),
        (native.ReasoningDelta(text), PURE.ReasoningDelta(text)),
        (native.ToolCallDelta(index, maybe_a, maybe_b, text), PURE.ToolCallDelta(index, maybe_a, maybe_b, text)),
        (native.Usage(*usage), PURE.Usage(*usage)),
        (native.Usage(*usage, cost=cost), PURE.Usage(*usage, cost=cost)),
        (native.Citation(text, maybe_a), PURE.Citation(text, maybe_a)),
        (native.Finish(text), PURE.Finish(text)),
    ]
    for n, p in pairs:
        assert repr(n) == repr(p)
        assert n.kind == p.kind
        assert type(n).__match_args__ == type(p).__match_args__
        assert _fields(n) == _fields(p)
    priced = pairs[4]
    assert repr(priced[0].cost) == repr(priced[1].cost)


def test_native_and_pure_constructors_have_the_same_parameters() -> None:
    parity_only_in_native_run()
    native = require_native()
    import inspect

    for name in ("TextDelta", "ReasoningDelta", "ToolCallDelta", "Usage", "Citation", "Finish"):
        n_params = inspect.signature(getattr(native, name)).parameters
        p_params = inspect.signature(getattr(PURE, name)).parameters
        assert [(p.name, p.kind, p.default) for p in n_params.values()] == [
            (p.name, p.kind, p.default) for p in p_params.values()
        ]
