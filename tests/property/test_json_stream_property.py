"""Property tests of ``JsonStreamParser``.

- Public API (native in one run, pure in the other): any JSON value, serialized with any
  indent / separators / ``ensure_ascii`` and surrounded by whitespace, fed in any
  fragmentation: the final value equals ``json.loads`` and every partial value on the way
  is consistent with it.
- Native against the pure twin: equal partial values, offsets, completeness and errors
  after every fragment, for valid documents (also with duplicate keys) and for mutated
  (mostly invalid) ones; mutating a returned value never changes a later one.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, Callable, Optional, Union

from hypothesis import assume, given
from hypothesis import strategies as st
from tests.conftest import PURE, parity_only_in_native_run, require_native
from tests.unit.test_json_stream import consistent, same, vandalize

import tokenwire
from tokenwire.errors import JSONStreamError

# Text including lone surrogates and control characters (which json.dumps escapes).
TEXT = st.text(st.characters(exclude_categories=()), max_size=12)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)

VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children, max_size=5),
    max_leaves=25,
)

WHITESPACE = st.text(st.sampled_from(" \t\n\r"), max_size=3)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A JSON document as a model or a person might write it."""
    value = draw(VALUES)
    indent: Optional[Union[int, str]] = draw(st.none() | st.integers(0, 3) | st.just("\t"))
    separators = draw(st.sampled_from([None, (",", ":"), (", ", ": "), (" ,\n", " :\t")]))
    text = json.dumps(value, indent=indent, separators=separators, ensure_ascii=draw(st.booleans()))
    return draw(WHITESPACE) + text + draw(WHITESPACE)


@st.composite
def fragmented(draw: st.DrawFn, doc: str) -> list[str]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(doc)), max_size=40))))
    bounds = [0, *cuts, len(doc)]
    return [doc[a:b] for a, b in zip(bounds, bounds[1:])]


def has_duplicate_keys(doc: str) -> bool:
    """Distinct str keys can collide once serialized (``"\\ud83d\\ude00"`` and ``"😀"``
    with ``ensure_ascii``): partial values then legitimately show a replaced value."""
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        keys = [k for k, _ in pairs]
        found = found or len(set(keys)) != len(keys)
        return dict(pairs)

    json.loads(doc, object_pairs_hook=hook)
    return found


@given(st.data())
def test_fragments_give_json_loads_and_consistent_partials(data: st.DataObject) -> None:
    doc = data.draw(documents())
    pieces = data.draw(fragmented(doc))
    final = json.loads(doc)
    check_partials = not has_duplicate_keys(doc)
    parser = tokenwire.JsonStreamParser()
    fed = 0
    for piece in pieces:
        parser.feed(piece)
        fed += len(piece)
        assert parser.offset == fed
        partial = parser.value()
        if partial is not None and check_partials:
            assert consistent(partial, final), (fed, partial)
    assert same(parser.finish(), final)
    assert parser.is_complete()


# -- native vs pure --------------------------------------------------------------------

Outcome = tuple[str, Any, int, bool]


def run(module: ModuleType, pieces: list[str]) -> list[Outcome]:
    """What an observer sees after every fragment and at the end. Each value is read
    twice: the second read must equal the first and is then vandalized, which must not
    change anything later."""
    parser = module.JsonStreamParser()
    seen: list[Outcome] = []

    def observe() -> None:
        value = parser.value()
        again = parser.value()
        assert same(again, value)
        vandalize(again)
        seen.append(("value", value, parser.offset, parser.is_complete()))

    def step(action: Callable[[], Any]) -> bool:
        try:
            action()
        except JSONStreamError as exc:
            seen.append(("error", (exc.message, exc.offset), parser.offset, parser.is_complete()))
            observe()
            return False
        observe()
        return True

    for piece in pieces:
        if not step(lambda piece=piece: parser.feed(piece)):  # type: ignore[misc]
            return seen
    step(parser.finish)
    return seen


def assert_same_runs(a: list[Outcome], b: list[Outcome]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[0] == y[0] and x[2:] == y[2:], (x, y)
        assert same(x[1], y[1]) if x[0] == "value" else x[1] == y[1], (x, y)


@given(st.data())
def test_native_and_pure_agree_on_valid_documents(data: st.DataObject) -> None:
    parity_only_in_native_run()
    native = require_native()
    doc = data.draw(documents())
    pieces = data.draw(fragmented(doc))
    assert_same_runs(run(native, pieces), run(PURE, pieces))


class Pairs(list):  # type: ignore[type-arg]
    """An object as its member list, so keys may repeat."""


def dump_with_duplicates(value: Any) -> str:
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{json.dumps(k)}: {dump_with_duplicates(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump_with_duplicates(v) for v in value) + "]"  # type: ignore[union-attr]
    return json.dumps(value)


DUPLICATE_KEY_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(st.tuples(st.sampled_from(["a", "b", ""]), children), max_size=5).map(Pairs)
    ),
    max_leaves=20,
)


@given(st.data())
def test_native_and_pure_agree_with_duplicate_keys(data: st.DataObject) -> None:
    parity_only_in_native_run()
    native = require_native()
    doc = dump_with_duplicates(data.draw(DUPLICATE_KEY_VALUES))
    pieces = data.draw(fragmented(doc))
    native_run = run(native, pieces)
    assert_same_runs(native_run, run(PURE, pieces))
    assert same(native_run[-1][1], json.loads(doc))


MUTATIONS = st.sampled_from([*'{}[]",:0123456789-+.eE \\uxtfn\u00e9\ud800\n\x00', "\\u", "\\ud83d", "tru", "1."])


@given(st.data())
def test_native_and_pure_agree_on_mutated_documents(data: st.DataObject) -> None:
    parity_only_in_native_run()
    native = require_native()
    doc = data.draw(documents())
    at = data.draw(st.integers(0, len(doc)))
    cut = data.draw(st.integers(0, 2))
    doc = doc[:at] + data.draw(MUTATIONS) + doc[at + cut :]
    pieces = data.draw(fragmented(doc))
    native_run = run(native, pieces)
    assert_same_runs(native_run, run(PURE, pieces))
    # And the verdict agrees with json.loads (which also accepts NaN/Infinity, absent here).
    try:
        json.loads(doc)
        loads_ok = True
    except ValueError:
        loads_ok = False
    assume(not any(word in doc for word in ("NaN", "Infinity")))
    assert (native_run[-2][0] != "error") == loads_ok, (doc, native_run[-2:])
