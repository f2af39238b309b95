"""``JsonStreamParser`` through the public API (native in one run, the pure twin in the other).

The oracle is ``json.loads``: the final value equals it, every partial value on the way is
*consistent* with it (see :func:`consistent`), and every document it rejects is rejected.
Error messages and offsets are part of the contract shared by both backends.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import tokenwire
from tokenwire.errors import JSONStreamError

Parser = tokenwire.JsonStreamParser

# -- the consistency oracle ------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Deep equality that also tells ``1`` from ``1.0`` and ``True``, and ``0.0`` from
    ``-0.0``; iterative, for deeply nested values."""
    todo = [(a, b)]
    while todo:
        x, y = todo.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            todo.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            todo.extend(zip(x, y))
        elif isinstance(x, float):
            if x != y or math.copysign(1.0, x) != math.copysign(1.0, y):
                return False
        elif x != y:
            return False
    return True


def consistent(partial: Any, final: Any) -> bool:
    """Whether ``partial`` is a prefix-consistent view of ``final`` (a document without
    duplicate keys): a str is a prefix; a list holds a prefix of the items and a dict a
    prefix of the members (keys in order), all equal except the last, which may itself be
    partial; anything else is equal."""
    while True:
        if type(partial) is str and type(final) is str:
            return final.startswith(partial)
        if type(partial) is list and type(final) is list:
            n = len(partial)
            if n > len(final) or not all(same(a, b) for a, b in zip(partial[:-1], final)):
                return False
            if n == 0:
                return True
            partial, final = partial[-1], final[n - 1]
        elif type(partial) is dict and type(final) is dict:
            keys = list(partial)
            n = len(keys)
            if keys != list(final)[:n] or not all(same(partial[k], final[k]) for k in keys[:-1]):
                return False
            if n == 0:
                return True
            partial, final = partial[keys[-1]], final[keys[-1]]
        else:
            return same(partial, final)


def test_the_oracle_itself() -> None:
    assert consistent({}, {"a": 1})
    assert consistent({"a": [1, {"b": "x"}]}, {"a": [1, {"b": "xy", "c": 2}], "d": 3})
    assert not consistent({"a": 2}, {"a": 1})
    assert not consistent({"b": 1}, {"a": 1, "b": 1})  # order matters
    assert not consistent({"a": "x", "b": "y"}, {"a": "xx", "b": "y"})  # only the last may be partial
    assert not consistent([1.0], [1])
    assert not consistent([True], [1])
    assert not consistent(-0.0, 0.0)
    assert not consistent("ab", "b")
    assert not consistent(None, {})
    assert consistent([], [1]) and not consistent([1, 2], [1])


# -- the corpus ----------------------------------------------------------------------

CORPUS: list[str] = [
    '{"name": "write_file", "path": "src/app.py", "content": "def main():\\n\\tprint(\\"hi\\")\\n"}',
    ' { "a" : [ 1 , 2.5 , -3e-2 , 4E+10 , 0 , -0 , -0.0 , 1e400 ] , "b" : { } , "c" : [ ] } ',
    '\n\t{\r\n"nested":{"deeper":{"deepest":[[[]],[{}],{"x":[null,true,false]}]}}}\n',
    '["caf\u00e9", "\\u00e9", "\\u00E9\\u20AC", "\U0001f600", "\\ud83d\\ude00", "\\uD83D\\uDE00x"]',
    '["\\ud800", "\\udc00", "\\ud800x", "\\ud800\\n", "\\ud800\\u0041", "\\ud800\\ud83d\\ude00", "\\udc00\\ud800"]',
    '{"esc": "\\" \\\\ \\/ \\b \\f \\n \\r \\t", "ctrl-free": "\\u0000\\u001f\\u007f"}',
    "[123456789012345678901234567890, -98765432109876543210987654321, 9223372036854775807, "
    "-9223372036854775808, 9223372036854775808, 999999999999999999, 1000000000000000000]",
    "[0.1, 2.2250738585072011e-308, 4.9e-324, 1e-400, 1.7976931348623157e308, 17976931348623157e292, "
    "123456789012345678901234567890.5, 9007199254740993, 9007199254740993.0, 1E2, 1e+2, 1e-2]",
    '{"": "", " ": " ", "k\\u00e9y": "v", "\\ud83d\\ude00": "emoji key"}',
    '"a bare string with \\"escapes\\" and \u00fcnic\u00f6de \U0001f680"',
    "42",
    "-0.5e-7",
    "true",
    "null",
    "[]",
    "{}",
    '[{"a": []}, [{"b": {}}], "", 0]',
    '{"edits": [{"line": 1, "old": "x", "new": "y"}, {"line": 22, "old": "", "new": "multi\\nline"}],'
    ' "dry_run": false}',
    "[" * 40 + '"deep"' + "]" * 40,
    "[" * 512 + "]" * 512,
    '{"a":' * 511 + "{}" + "}" * 511,
]


def split_points(text: str, seed: int) -> list[str]:
    """``text`` in random-size fragments (1 to 12 characters)."""
    rng = random.Random(seed)
    pieces: list[str] = []
    i = 0
    while i < len(text):
        n = rng.randint(1, 12)
        pieces.append(text[i : i + n])
        i += n
    return pieces


def feed_checking(pieces: Sequence[str], final: Any) -> Any:
    """Feed ``pieces`` one by one, checking every partial value; returns ``finish()``."""
    parser = Parser()
    fed = 0
    for piece in pieces:
        parser.feed(piece)
        fed += len(piece)
        assert parser.offset == fed
        partial = parser.value()
        if partial is not None:
            assert consistent(partial, final), (fed, partial)
    return parser.finish()


@pytest.mark.parametrize("doc", CORPUS, ids=[f"doc{i}" for i in range(len(CORPUS))])
def test_every_prefix_is_consistent_and_the_end_equals_json_loads(doc: str) -> None:
    final = json.loads(doc)
    # Character by character: every prefix.
    assert same(feed_checking(list(doc), final), final)
    # Random-size fragments.
    for seed in range(3):
        assert same(feed_checking(split_points(doc, seed), final), final)
    # One piece.
    parser = Parser()
    parser.feed(doc)
    assert same(parser.finish(), final)
    assert same(parser.value(), final)


def test_every_two_piece_split_gives_the_same_value() -> None:
    for doc in (CORPUS[0], CORPUS[3], CORPUS[4], CORPUS[6]):
        final = json.loads(doc)
        for cut in range(len(doc) + 1):
            parser = Parser()
            parser.feed(doc[:cut])
            parser.feed(doc[cut:])
            assert same(parser.finish(), final), cut


# -- hold-back rules -------------------------------------------------------------------

HOLD_BACK: list[tuple[str, Any]] = [
    ("", None),
    ("  \n", None),
    ("{", {}),
    ('{"a', {}),
    ('{"a"', {}),
    ('{"a":', {}),
    ('{"a": ', {}),
    ('{"a": t', {}),
    ('{"a": tru', {}),
    ('{"a": true', {"a": True}),
    ('{"a": n', {}),
    ('{"a": null', {"a": None}),
    ('{"a": 12', {}),
    ('{"a": 12 ', {"a": 12}),
    ('{"a": 12,', {"a": 12}),
    ('{"a": 12}', {"a": 12}),
    ('{"a": -', {}),
    ('{"a": 1.', {}),
    ('{"a": 1.5', {}),
    ('{"a": 1.5e', {}),
    ('{"a": 1.5e3', {}),
    ('{"a": 1.5e3\n', {"a": 1500.0}),
    ('{"a": "', {"a": ""}),
    ('{"a": "hel', {"a": "hel"}),
    ('{"a": "hel\\', {"a": "hel"}),
    ('{"a": "hel\\u00', {"a": "hel"}),
    ('{"a": "hel\\u00e9', {"a": "hel\u00e9"}),
    ('{"a": "x\\ud83d', {"a": "x"}),
    ('{"a": "x\\ud83d\\', {"a": "x"}),
    ('{"a": "x\\ud83d\\ude0', {"a": "x"}),
    ('{"a": "x\\ud83d\\ude00', {"a": "x\U0001f600"}),
    ('{"a": "x\\ud83dy', {"a": "x\ud83dy"}),
    ('{"a": "done", "b', {"a": "done"}),
    ('{"a": [', {"a": []}),
    ('{"a": {', {"a": {}}),
    ('{"a": {"b": [1, {"c', {"a": {"b": [1, {}]}}),
    ("[", []),
    ('["x", 1', ["x"]),
    ('["x", 1]', ["x", 1]),
    ('["x", ', ["x"]),
    ('["x", "', ["x", ""]),
    ("[[], [", [[], []]),
    ("[fals", []),
    ("[false", [False]),
    ('"', ""),
    ('"ab', "ab"),
    ("12", None),
    ("-", None),
    ("t", None),
]


@pytest.mark.parametrize(("prefix", "expected"), HOLD_BACK)
def test_hold_back_rules(prefix: str, expected: Any) -> None:
    parser = Parser()
    parser.feed(prefix)
    assert same(parser.value(), expected)
    # Fragmentation never changes the partial value.
    parser = Parser()
    for ch in prefix:
        parser.feed(ch)
    assert same(parser.value(), expected)


# -- completeness and finish ---------------------------------------------------------


def test_is_complete_and_finish() -> None:
    parser = Parser()
    assert parser.value() is None
    assert not parser.is_complete()
    parser.feed('{"a": [1')
    assert not parser.is_complete()
    parser.feed("]}")
    assert parser.is_complete()
    parser.feed(" \t\r\n")
    assert parser.is_complete()
    assert parser.finish() == {"a": [1]}
    assert parser.finish() == {"a": [1]}  # idempotent


def test_top_level_number_completes_at_a_delimiter_or_finish() -> None:
    parser = Parser()
    parser.feed("12")
    assert not parser.is_complete()
    assert parser.value() is None
    parser.feed("3")
    assert parser.finish() == 123
    assert parser.is_complete()
    assert parser.value() == 123
    with pytest.raises(JSONStreamError, match="after the end of the JSON value") as exc:
        parser.feed("4")  # finish() ended the input
    assert exc.value.offset == 3

    parser = Parser()
    parser.feed("-1.5e3 ")
    assert parser.is_complete()
    assert same(parser.value(), -1500.0)


def test_top_level_literals_complete_at_their_last_letter() -> None:
    parser = Parser()
    parser.feed("fals")
    assert not parser.is_complete()
    parser.feed("e")
    assert parser.is_complete()
    assert parser.value() is False


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ("", "no value"),
        ("   ", "no value"),
        ('"abc', "unterminated string"),
        ('"abc\\', "unterminated string"),
        ('"\\ud83d', "unterminated string"),
        ('{"ab', "unterminated object key"),
        ("-", "incomplete number"),
        ("1.", "incomplete number"),
        ("1e", "incomplete number"),
        ("1e-", "incomplete number"),
        ("[0.", "incomplete number"),
        ("nul", "incomplete literal"),
        ("[1", "unterminated array"),
        ("[1, ", "unterminated array"),
        ("[[]", "unterminated array"),
        ('{"a": 1', "unterminated object"),
        ('{"a"', "unterminated object"),
        ('{"a":', "unterminated object"),
        ('[{"a": {}', "unterminated object"),
    ],
)
def test_finish_on_an_incomplete_document(doc: str, reason: str) -> None:
    parser = Parser()
    parser.feed(doc)
    with pytest.raises(JSONStreamError) as exc:
        parser.finish()
    assert exc.value.message == f"incomplete JSON document: {reason}"
    assert exc.value.offset == len(doc)
    assert not parser.is_complete()


def test_finish_on_an_incomplete_document_leaves_the_parser_usable() -> None:
    parser = Parser()
    parser.feed('{"a": [1')
    with pytest.raises(JSONStreamError):
        parser.finish()
    parser.feed("]}")
    assert parser.finish() == {"a": [1]}


# -- errors ----------------------------------------------------------------------------

ERRORS: list[tuple[str, str, int]] = [
    ("x", "expected a JSON value, found 'x'", 0),
    ("  \u00e9", "expected a JSON value, found U+00E9", 2),
    ("[1,]", "expected a JSON value, found ']'", 3),
    ("[,", "expected a JSON value or ']', found ','", 1),
    ('{"a":1,}', "expected an object key, found '}'", 7),
    ("{1", "expected an object key or '}', found '1'", 1),
    ("{'a': 1}", "expected an object key or '}', found '''", 1),
    ('{"a" 1', "expected ':' after object key, found '1'", 5),
    ('{"a"}', "expected ':' after object key, found '}'", 4),
    ("[1 2", "expected ',' or ']' after array item, found '2'", 3),
    ("[1}", "expected ',' or ']' after array item, found '}'", 2),
    ('{"a":1]', "expected ',' or '}' after object member, found ']'", 6),
    ("{} x", "unexpected 'x' after the end of the JSON value", 3),
    ("1 2", "unexpected '2' after the end of the JSON value", 2),
    ('"a" "b"', "unexpected '\"' after the end of the JSON value", 4),
    ("truex", "unexpected 'x' after the end of the JSON value", 4),
    ("[]]", "unexpected ']' after the end of the JSON value", 2),
    ('"\u00e9\x01"', "invalid control character U+0001 in string", 2),
    ('"a\nb"', "invalid control character U+000A in string", 2),
    ('"a\tb"', "invalid control character U+0009 in string", 2),
    ('{"k\x00": 1}', "invalid control character U+0000 in string", 3),
    ('"\\x"', "invalid escape 'x' in string", 2),
    ('"\\U0001"', "invalid escape 'U' in string", 2),
    ('"\\\u00e9"', "invalid escape U+00E9 in string", 2),
    ('"\\u12g4"', "invalid \\uXXXX escape: expected a hex digit, found 'g'", 5),
    ('"\\u 123"', "invalid \\uXXXX escape: expected a hex digit, found U+0020", 3),
    ('"\\u+abc"', "invalid \\uXXXX escape: expected a hex digit, found '+'", 3),
    ('"\\ud800\\u12x"', "invalid \\uXXXX escape: expected a hex digit, found 'x'", 11),
    ('"\\ud800\\q"', "invalid escape 'q' in string", 8),
    ("01", "invalid number: leading zeros are not allowed", 1),
    ("-01", "invalid number: leading zeros are not allowed", 2),
    ("[00]", "invalid number: leading zeros are not allowed", 2),
    ("-a", "invalid number: expected a digit after '-', found 'a'", 1),
    ("- 1", "invalid number: expected a digit after '-', found U+0020", 1),
    ("[1.]", "invalid number: expected a digit after the decimal point, found ']'", 3),
    ("1.e5", "invalid number: expected a digit after the decimal point, found 'e'", 2),
    ("1e]", "invalid number: expected a digit after the exponent marker, found ']'", 2),
    ("1e+x", "invalid number: expected a digit after the exponent marker, found 'x'", 3),
    ("1.5.2", "unexpected '.' after the end of the JSON value", 3),
    ("[1.5e3e]", "expected ',' or ']' after array item, found 'e'", 6),
    (".5", "expected a JSON value, found '.'", 0),
    ("+1", "expected a JSON value, found '+'", 0),
    ("\ufeff{}", "expected a JSON value, found U+FEFF", 0),
    ("\u00a0{}", "expected a JSON value, found U+00A0", 0),
    ("NaN", "expected a JSON value, found 'N' (NaN and Infinity are not JSON)", 0),
    ("[Infinity]", "expected a JSON value or ']', found 'I' (NaN and Infinity are not JSON)", 1),
    ('{"a": -Infinity}', "invalid number: expected a digit after '-', found 'I'", 7),
    ("trUe", "invalid literal: expected 'true', found 'U'", 2),
    ("nul1", "invalid literal: expected 'null', found '1'", 3),
    ("[False]", "expected a JSON value or ']', found 'F'", 1),
    ("None", "expected a JSON value, found 'N' (NaN and Infinity are not JSON)", 0),
    ('["\U0001f600", \U0001f600]', "expected a JSON value, found U+1F600", 6),
]


def first_error(pieces: Sequence[str]) -> JSONStreamError:
    parser = Parser()
    try:
        for piece in pieces:
            parser.feed(piece)
        parser.finish()
    except JSONStreamError as exc:
        return exc
    raise AssertionError("no error")


@pytest.mark.parametrize(("doc", "message", "offset"), ERRORS)
def test_errors_name_the_offending_character_and_its_offset(doc: str, message: str, offset: int) -> None:
    for pieces in ([doc], list(doc), split_points(doc, 7)):
        exc = first_error(pieces)
        assert (exc.message, exc.offset) == (message, offset)
        assert str(exc) == message


INVALID_FOR_JSON_LOADS: list[str] = [
    "",
    " ",
    "[",
    "]",
    "{",
    "}",
    '{"a"',
    '{"a":',
    '{"a":1',
    '{"a":1,}',
    "[1,]",
    "[1 2]",
    '{"a" 1}',
    '{"a",1}',
    "{1:2}",
    "[01]",
    "-",
    "--1",
    "1.",
    "1.e1",
    ".1",
    "1e",
    "1e+",
    "0x10",
    "+1",
    "tru",
    "True",
    "nulll",
    '"abc',
    '"\\',
    '"\\a"',
    '"\\u12"',
    '"\\u12345"x',
    '"\t"',
    '"\x7f\x1f"',
    "'single'",
    "[1]]",
    "{} {}",
    "1 2",
    "\ufeff1",
    "[1,,2]",
    '["a" "b"]',
    '{"a":1 "b":2}',
    "// comment\n1",
    "/* c */ 1",
]


@pytest.mark.parametrize("doc", INVALID_FOR_JSON_LOADS)
def test_everything_json_loads_rejects_is_rejected(doc: str) -> None:
    with pytest.raises(ValueError):
        json.loads(doc)
    first = first_error([doc])
    # Whatever the fragmentation: the same error at the same place.
    for pieces in (list(doc), split_points(doc, 3)):
        exc = first_error(pieces)
        assert (exc.message, exc.offset) == (first.message, first.offset)


@pytest.mark.parametrize("doc", ["NaN", "Infinity", "-Infinity", '{"a": NaN}', "[1, Infinity]"])
def test_nan_and_infinity_are_rejected_although_json_loads_accepts_them(doc: str) -> None:
    json.loads(doc)
    with pytest.raises(JSONStreamError, match=r"not JSON|expected a digit"):
        Parser().feed(doc)


def test_failure_is_sticky_and_keeps_the_partial_value() -> None:
    parser = Parser()
    parser.feed('["ok", 1, ')
    with pytest.raises(JSONStreamError) as first:
        parser.feed("x]")
    assert (first.value.message, first.value.offset) == ("expected a JSON value, found 'x'", 10)
    assert parser.offset == 10
    for again in (lambda: parser.feed("2]"), parser.finish):
        with pytest.raises(JSONStreamError) as exc:
            again()
        assert (exc.value.message, exc.value.offset) == (first.value.message, first.value.offset)
    assert not parser.is_complete()
    assert parser.value() == ["ok", 1]


def test_trailing_garbage_after_a_complete_value() -> None:
    parser = Parser()
    parser.feed('{"a": 1} ')
    assert parser.is_complete()
    with pytest.raises(JSONStreamError) as exc:
        parser.feed(" ,")
    assert exc.value.offset == 10
    assert not parser.is_complete()
    assert parser.value() == {"a": 1}


# -- depth -----------------------------------------------------------------------------


def test_depth_limit_default() -> None:
    parser = Parser()
    parser.feed("[" * 512)
    assert parser.value() is not None
    with pytest.raises(JSONStreamError) as exc:
        parser.feed("[")
    assert (exc.value.message, exc.value.offset) == ("maximum nesting depth 512 exceeded", 512)

    parser = Parser()
    parser.feed('{"a":' * 512 + "1" + "}" * 512)
    assert parser.is_complete()


def test_depth_limit_custom() -> None:
    parser = Parser(max_depth=3)
    parser.feed('[{"a": [')
    with pytest.raises(JSONStreamError) as exc:
        parser.feed(' {"b": 1}]}]')
    assert (exc.value.message, exc.value.offset) == ("maximum nesting depth 3 exceeded", 9)
    assert parser.value() == [{"a": []}]

    parser = Parser(max_depth=0)
    parser.feed('"scalars need no depth"')
    assert parser.finish() == "scalars need no depth"
    with pytest.raises(JSONStreamError, match="maximum nesting depth 0 exceeded"):
        Parser(max_depth=0).feed("[]")


def test_deep_values_are_built_without_recursion() -> None:
    depth = sys.getrecursionlimit() + 500
    parser = Parser(max_depth=depth)
    parser.feed("[" * depth + "]" * depth)
    value = parser.finish()
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


def test_max_depth_argument() -> None:
    with pytest.raises(ValueError, match="max_depth must be >= 0"):
        Parser(max_depth=-1)
    with pytest.raises(TypeError):
        Parser(max_depth=1.5)  # type: ignore[arg-type]
    Parser(max_depth=True)  # an int


# -- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "-0.0",
        "0.1",
        "1e400",
        "-1e400",
        "1e-400",
        "4.9e-324",
        "2.2250738585072011e-308",
        "1.7976931348623157e308",
        "9007199254740993",
        "9007199254740993.0",
        "123456789012345678901234567890",
        "-123456789012345678901234567890.123456789e-5",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "999999999999999999",
        "-999999999999999999",
        "1000000000000000000",
        "1E2",
        "1e+2",
        "1E-2",
        "0e0",
        "1" * 300,
    ],
)
def test_numbers_equal_json_loads(text: str) -> None:
    want = json.loads(text)
    for doc in (text, f"[{text}]", f'{{"n": {text}}}'):
        parser = Parser()
        parser.feed(doc)
        got = parser.finish()
        assert same(got, want if doc == text else [want] if doc[0] == "[" else {"n": want}), doc


def test_integer_digit_limit_behaves_like_json_loads() -> None:
    doc = "[" + "7" * 5000 + "]"
    try:
        want: Any = json.loads(doc)
    except ValueError as exc:
        parser = Parser()
        parser.feed(doc)  # the text is valid JSON: only the conversion fails
        assert parser.is_complete()
        with pytest.raises(ValueError, match=str(exc).split("(")[0].strip()[:20]):
            parser.value()
    else:  # an interpreter without the limit
        parser = Parser()
        parser.feed(doc)
        assert parser.finish() == want


def test_lone_surrogates_match_json_loads() -> None:
    for doc in [
        '"\\ud800"',
        '"\\udfff"',
        '"\\ud800\\ud800"',
        '"\\ud800\\udc00"',
        '"\\udc00\\ud800"',
        '"\ud800"',  # raw lone surrogates in the input str
        '"\ud800\udc00"',  # two raw surrogates are two characters, not one
        '{"\ud83d": "\\ud83d"}',
    ]:
        want = json.loads(doc)
        parser = Parser()
        for ch in doc:
            parser.feed(ch)
        assert parser.finish() == want, doc
        assert parser.offset == len(doc)


def test_duplicate_keys_last_value_first_position() -> None:
    doc = '{"a": 1, "b": [2], "a": {"c": 3}, "b": "x"}'
    want = json.loads(doc)
    parser = Parser()
    parser.feed(doc)
    got = parser.finish()
    assert same(got, want)
    assert list(got) == ["a", "b"]


@pytest.mark.parametrize(
    "doc",
    [
        '{"a": [1], "a": 2}',
        '{"a": 2, "a": [1]}',
        '{"a": {"x": [1]}, "b": 0, "a": {"c": [2]}, "b": [3]}',
        '[{"k": [1], "k": [2], "k": "s"}, {"k": {}, "j": 1, "k": [{"k": 1, "k": []}]}]',
    ],
)
def test_duplicate_keys_with_container_values(doc: str) -> None:
    want = json.loads(doc)
    parser = Parser()
    for ch in doc:
        parser.feed(ch)
        parser.value()
    assert same(parser.finish(), want)
    assert same(parser.value(), want)


def test_each_value_call_returns_new_objects() -> None:
    parser = Parser()
    parser.feed('{"list": [1, {"x": "y"}], "open": [')
    first = parser.value()
    first["list"].append("mutated")
    first["list"][1]["x"] = "mutated"
    first["open"].append(0)
    first["new"] = 1
    assert parser.value() == {"list": [1, {"x": "y"}], "open": []}
    parser.feed("]}")
    done = parser.finish()
    done["list"][1].clear()
    assert parser.finish() == {"list": [1, {"x": "y"}], "open": []}


def vandalize(value: Any) -> None:
    """Mutate every container in ``value``."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.values())
            item.clear()
            item["vandal"] = True
        elif isinstance(item, list):
            todo.extend(item)
            item.clear()
            item.append("vandal")


def test_mutating_returned_values_never_affects_the_parser() -> None:
    doc = '{"done": [1, {"x": ["y", {"z": []}]}, [[]]], "dup": [1], "dup": {"w": [2]}, "open": [{"a": [1]}, ['
    parser = Parser()
    for ch in doc:
        parser.feed(ch)
        vandalize(parser.value())
    want = {"done": [1, {"x": ["y", {"z": []}]}, [[]]], "dup": {"w": [2]}, "open": [{"a": [1]}, []]}
    assert parser.value() == want
    vandalize(parser.value())
    parser.feed("]]}")
    final = parser.finish()
    vandalize(final)
    vandalize(parser.finish())
    assert parser.finish() == want


def test_partial_strings_are_never_modified_once_returned() -> None:
    parser = Parser()
    parser.feed('["abc')
    parser.value()  # dropped at once
    parser.feed("def")
    held = parser.value()[0]
    hashed = {parser.value()[0]: 1}
    parser.feed("ghi")
    again = parser.value()[0]
    parser.feed('j"]')
    assert (held, list(hashed), again, parser.finish()) == ("abcdef", ["abcdef"], "abcdefghi", ["abcdefghij"])


def test_feed_takes_str_only() -> None:
    parser = Parser()
    with pytest.raises(TypeError):
        parser.feed(b"{}")  # type: ignore[arg-type]
    parser.feed("")
    assert parser.offset == 0
    assert parser.value() is None


def test_offset_counts_code_points() -> None:
    parser = Parser()
    parser.feed('["\u00e9\U0001f600", ')
    assert parser.offset == 7
    parser.feed('"\ud800"')
    assert parser.offset == 10


def test_str_subclass_fragments() -> None:
    class Fragment(str):
        pass

    parser = Parser()
    parser.feed(Fragment('{"a": "b"}'))
    assert parser.finish() == {"a": "b"}


def _tool_call_chunks() -> Iterator[str]:
    args = {"path": "notes.md", "content": "line\n" * 50, "edits": [{"at": i, "text": f"t{i}"} for i in range(5)]}
    text = json.dumps(args)
    for i in range(0, len(text), 5):
        yield text[i : i + 5]


def test_a_streamed_tool_call() -> None:
    parser = Parser()
    seen_content: list[int] = []
    for chunk in _tool_call_chunks():
        parser.feed(chunk)
        value = parser.value()
        if isinstance(value, dict) and "content" in value:
            seen_content.append(len(value["content"]))
    final = parser.finish()
    assert seen_content == sorted(seen_content)
    assert final["edits"][-1] == {"at": 4, "text": "t4"}
