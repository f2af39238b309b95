"""Incremental JSON for tool-call arguments that arrive in fragments (pure-Python twin).

Same behaviour as the native ``JsonStreamParser`` (``rust/tokenwire-core/src/json_stream.rs``),
error messages and offsets included:

- ``feed(fragment)`` costs O(len(fragment)). The parser is a character-level state
  machine with an explicit container stack, so nothing is re-parsed and fragments may split
  the input anywhere (inside strings, escapes, ``\\uXXXX`` surrogate pairs, numbers).
- ``value()`` returns the best partial value, a fresh object on every call (the caller may
  mutate it). It never contradicts the final ``json.loads`` result: containers appear at
  their opening bracket; strings at their opening quote (``""`` counts) and may be
  partial, with a pending escape held back (including a high surrogate that may still pair
  with a low one); an object member appears once its key is complete and its value has
  started; numbers and ``true``/``false``/``null`` are held back until complete (a literal
  at its last letter, a number when a character that cannot extend it follows, or at
  ``finish()``). ``None`` before any value has started. Duplicate keys: the last value
  wins at the first position, like ``json.loads``; with duplicates, a partial value may
  show an earlier value of a key.
- Strict JSON: one top-level value with optional whitespace around it; control characters
  in strings, invalid escapes, leading zeros, ``-``, ``1.``, ``1e``, trailing commas and
  anything after the value are errors. Lone surrogate escapes are kept as lone surrogates,
  like ``json.loads``. ``NaN``/``Infinity``, which ``json.loads`` accepts by default, are
  rejected: tool arguments are strict JSON.
- Integers become ``int`` via ``int(text)`` (so Python's integer string conversion limit
  applies, raising ``ValueError`` from ``value()``/``finish()`` as ``json.loads`` does);
  numbers with a fraction or exponent become ``float(text)``.
- Errors: ``JSONStreamError(message, offset)`` where ``offset`` is the index of the
  offending character in the whole input: the first character at which the input stops
  being a prefix of any valid document, whatever the fragmentation. Nesting deeper than
  ``max_depth`` fails at the opening bracket that exceeds it. After an error the parser is
  failed (``feed``/``finish`` raise the same error again, ``offset`` stays at the offending
  character, ``is_complete()`` is false) and ``value()`` still returns what was read before
  it. ``finish()`` on an incomplete document raises and leaves the parser unchanged.

Internally, the partial value is kept as real Python containers (open ones on the stack);
a string value is attached when it closes, and ``value()`` copies the containers (sharing
the immutable leaves) with the open string patched in.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Final, Optional

from tokenwire.errors import JSONStreamError

__all__ = ["DEFAULT_MAX_DEPTH", "JsonStreamParser"]

DEFAULT_MAX_DEPTH: Final = 512

# Parser states (the native core's `State`).
_TOP: Final = 0
_ARRAY_FIRST: Final = 1
_ARRAY_NEXT: Final = 2
_MEMBER_VALUE: Final = 3
_OBJECT_FIRST: Final = 4
_OBJECT_NEXT: Final = 5
_COLON: Final = 6
_AFTER_VALUE: Final = 7
_DONE: Final = 8
_STR: Final = 9
_ESCAPE: Final = 10
_UNICODE: Final = 11
_HIGH: Final = 12
_HIGH_BACKSLASH: Final = 13
_NUMBER: Final = 14
_LITERAL: Final = 15

_STRING_STATES: Final = frozenset({_STR, _ESCAPE, _UNICODE, _HIGH, _HIGH_BACKSLASH})

# Number sub-states.
_N_MINUS: Final = 0
_N_ZERO: Final = 1
_N_INT: Final = 2
_N_DOT: Final = 3
_N_FRAC: Final = 4
_N_EXP: Final = 5
_N_EXP_SIGN: Final = 6
_N_EXP_DIGITS: Final = 7
_N_COMPLETE: Final = frozenset({_N_ZERO, _N_INT, _N_FRAC, _N_EXP_DIGITS})
_N_DIGIT_RUN: Final = frozenset({_N_INT, _N_FRAC, _N_EXP_DIGITS})

_WHITESPACE: Final = " \t\n\r"
_ASCII_DIGITS: Final = "0123456789"
_HEX: Final = "0123456789abcdefABCDEF"
_STRING_RUN: Final = re.compile(r'[^"\\\x00-\x1f]*')
_DIGIT_RUN: Final = re.compile(r"[0-9]*")
_ESCAPES: Final = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS: Final[dict[str, tuple[str, Optional[bool]]]] = {
    "t": ("true", True),
    "f": ("false", False),
    "n": ("null", None),
}


class _LazyInt:
    """An integer whose ``int(text)`` raised (Python's digit limit): converted, and so
    raising again, each time ``value()`` builds it, as the native binding does."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


# An open container: a list or a dict, told apart by `type(...) is dict`.
_Container = Any


def _describe(ch: str) -> str:
    """How error messages name a character: ``'x'`` for visible ASCII, else ``U+XXXX``."""
    return f"'{ch}'" if "!" <= ch <= "~" else f"U+{ord(ch):04X}"


def _require_str(value: object) -> None:
    # The native binding rejects non-str arguments with TypeError too.
    if not isinstance(value, str):
        raise TypeError(f"feed() argument 'fragment' must be str, not {type(value).__name__}")


def _leaf(value: Any) -> Any:
    return int(value.text) if type(value) is _LazyInt else value


def _rebuild(root: Any) -> Any:
    """A copy of ``root`` with new containers at every level (leaves are immutable and
    shared), built without recursion."""
    kind = type(root)
    if kind is not list and kind is not dict:
        return _leaf(root)
    top: Any = [] if kind is list else {}
    todo: list[tuple[Any, Any]] = [(root, top)]
    while todo:
        src, dst = todo.pop()
        if type(src) is list:
            append = dst.append
            for item in src:
                kind = type(item)
                if kind is list or kind is dict:
                    new: Any = [] if kind is list else {}
                    todo.append((item, new))
                    append(new)
                else:
                    append(int(item.text) if kind is _LazyInt else item)
        else:
            for key, item in src.items():
                kind = type(item)
                if kind is list or kind is dict:
                    new = [] if kind is list else {}
                    todo.append((item, new))
                    dst[key] = new
                else:
                    dst[key] = int(item.text) if kind is _LazyInt else item
    return top


class JsonStreamParser:
    """Incremental JSON for tool-call arguments that arrive in fragments.

    See the module docstring for the exact rules; they match the native class.
    """

    __slots__ = (
        "_failed",
        "_has_root",
        "_high",
        "_in_key",
        "_lit_pos",
        "_lit_value",
        "_lit_word",
        "_max_depth",
        "_num",
        "_num_float",
        "_num_state",
        "_offset",
        "_parts",
        "_pending_key",
        "_root",
        "_stack",
        "_state",
        "_u_acc",
        "_u_digits",
        "_u_low",
    )

    def __init__(self, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        max_depth = operator.index(max_depth)
        if max_depth < 0:
            raise ValueError("max_depth must be >= 0")
        self._max_depth = max_depth
        self._state = _TOP
        self._stack: list[_Container] = []
        self._root: Any = None
        self._has_root = False
        self._pending_key: Optional[str] = None
        self._parts: list[str] = []
        self._in_key = False
        self._num: list[str] = []
        self._num_state = _N_MINUS
        self._num_float = False
        self._lit_word = ""
        self._lit_value: Optional[bool] = None
        self._lit_pos = 0
        self._u_digits = 0
        self._u_acc = 0
        self._u_low = False
        self._high = 0
        self._offset = 0
        self._failed: Optional[tuple[str, int]] = None

    # ----- public API -------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Characters fed so far (after an error: the offset of the offending character)."""
        return self._offset

    def is_complete(self) -> bool:
        """True once one whole top-level value has been read and no error occurred."""
        return self._failed is None and self._state == _DONE

    def feed(self, fragment: str) -> None:
        """Parse the next fragment of the document."""
        _require_str(fragment)
        if self._failed is not None:
            raise JSONStreamError(*self._failed)
        self._run(fragment)
        self._offset += len(fragment)

    def value(self) -> Any:
        """The best partial value of the input so far (a new object on every call)."""
        if self._state in _STRING_STATES and not self._in_key:
            partial = "".join(self._parts)
            if not self._stack:
                return partial
            # Patch the open string into its container for the copy, then undo.
            top = self._stack[-1]
            if type(top) is list:
                top.append(partial)
                try:
                    return _rebuild(self._root)
                finally:
                    top.pop()
            key = self._pending_key
            missing = object()
            old = top.get(key, missing)
            top[key] = partial
            try:
                return _rebuild(self._root)
            finally:
                if old is missing:
                    del top[key]
                else:
                    top[key] = old
        if not self._has_root:
            return None
        return _rebuild(self._root)

    def finish(self) -> Any:
        """End of input: completes a trailing top-level number and returns the value.

        Raises ``JSONStreamError`` if the document is incomplete (leaving the parser
        unchanged) or the parser has failed.
        """
        if self._failed is not None:
            raise JSONStreamError(*self._failed)
        if self._state == _NUMBER and not self._stack and self._num_state in _N_COMPLETE:
            self._end_number()
        if self._state != _DONE:
            raise JSONStreamError(f"incomplete JSON document: {self._incomplete_reason()}", self._offset)
        return self.value()

    # ----- internals --------------------------------------------------------------------

    def _incomplete_reason(self) -> str:
        state = self._state
        if state == _TOP:
            return "no value"
        if state in _STRING_STATES:
            return "unterminated object key" if self._in_key else "unterminated string"
        if state == _NUMBER and self._num_state not in _N_COMPLETE:
            return "incomplete number"
        if state == _LITERAL:
            return "incomplete literal"
        if not self._stack:
            return "no value"
        return "unterminated object" if type(self._stack[-1]) is dict else "unterminated array"

    def _fail(self, i: int, message: str) -> JSONStreamError:
        """Fail the parser at index ``i`` of the current fragment; returns the error to raise."""
        offset = self._offset + i
        self._offset = offset
        self._failed = (message, offset)
        return JSONStreamError(message, offset)

    def _after_value(self) -> None:
        self._state = _AFTER_VALUE if self._stack else _DONE

    def _attach(self, value: Any) -> None:
        """Add a started (container) or complete value to the innermost open container."""
        if self._stack:
            top = self._stack[-1]
            if type(top) is list:
                top.append(value)
            else:
                top[self._pending_key] = value
                self._pending_key = None
        else:
            self._root = value
            self._has_root = True

    def _close_container(self) -> None:
        self._stack.pop()
        self._after_value()

    def _close_string(self) -> None:
        text = "".join(self._parts)
        self._parts = []
        if self._in_key:
            self._pending_key = text
            self._state = _COLON
        else:
            self._attach(text)
            self._after_value()

    def _end_number(self) -> None:
        text = "".join(self._num)
        self._num = []
        value: Any
        if self._num_float:
            value = float(text)
        else:
            try:
                value = int(text)
            except ValueError:
                value = _LazyInt(text)
        self._attach(value)
        self._after_value()

    def _start_value(self, s: str, i: int) -> None:
        ch = s[i]
        if ch == '"':
            self._in_key = False
            self._state = _STR
            if not self._stack:
                # A top-level string is the root from its opening quote on.
                self._has_root = True
        elif ch in "[{":
            if len(self._stack) >= self._max_depth:
                raise self._fail(i, f"maximum nesting depth {self._max_depth} exceeded")
            container: _Container = [] if ch == "[" else {}
            self._attach(container)
            self._stack.append(container)
            self._state = _ARRAY_FIRST if ch == "[" else _OBJECT_FIRST
        elif ch == "-" or ch in _ASCII_DIGITS:
            self._num = [ch]
            self._num_float = False
            self._num_state = _N_MINUS if ch == "-" else _N_ZERO if ch == "0" else _N_INT
            self._state = _NUMBER
        elif ch in _LITERALS:
            self._lit_word, self._lit_value = _LITERALS[ch]
            self._lit_pos = 1
            self._state = _LITERAL
        else:
            expected = "a JSON value or ']'" if self._state == _ARRAY_FIRST else "a JSON value"
            note = " (NaN and Infinity are not JSON)" if ch in "NI" else ""
            raise self._fail(i, f"expected {expected}, found {_describe(ch)}{note}")

    def _number(self, s: str, i: int) -> bool:
        """One non-digit-run step of a number; returns whether ``s[i]`` was consumed (a
        character that ends a complete number is left for the next state)."""
        ch = s[i]
        num = self._num_state
        digit = ch in _ASCII_DIGITS
        nxt = -1
        if num == _N_MINUS:
            if digit:
                nxt = _N_ZERO if ch == "0" else _N_INT
        elif num == _N_ZERO and digit:
            raise self._fail(i, "invalid number: leading zeros are not allowed")
        elif ch == "." and num in (_N_ZERO, _N_INT):
            nxt = _N_DOT
        elif ch in "eE" and num in (_N_ZERO, _N_INT, _N_FRAC):
            nxt = _N_EXP
        elif digit and num in (_N_DOT, _N_FRAC):
            nxt = _N_FRAC
        elif ch in "+-" and num == _N_EXP:
            nxt = _N_EXP_SIGN
        elif digit and num in (_N_EXP, _N_EXP_SIGN, _N_EXP_DIGITS):
            nxt = _N_EXP_DIGITS
        if nxt < 0:
            if num in _N_COMPLETE:
                self._end_number()
                return False
            after = "'-'" if num == _N_MINUS else "the decimal point" if num == _N_DOT else "the exponent marker"
            raise self._fail(i, f"invalid number: expected a digit after {after}, found {_describe(ch)}")
        if nxt in (_N_DOT, _N_EXP):
            self._num_float = True
        self._num.append(ch)
        self._num_state = nxt
        return True

    def _escape(self, s: str, i: int) -> None:
        ch = s[i]
        decoded = _ESCAPES.get(ch)
        if decoded is not None:
            self._parts.append(decoded)
            self._state = _STR
        elif ch == "u":
            self._u_digits = 0
            self._u_acc = 0
            self._u_low = False
            self._state = _UNICODE
        else:
            raise self._fail(i, f"invalid escape {_describe(ch)} in string")

    def _end_unicode(self, unit: int) -> None:
        if self._u_low:
            high = self._high
            if 0xDC00 <= unit <= 0xDFFF:
                self._parts.append(chr(0x10000 + (((high - 0xD800) << 10) | (unit - 0xDC00))))
                self._state = _STR
                return
            # Not a pair: the high surrogate stands alone and `unit` is a fresh escape.
            self._parts.append(chr(high))
        if 0xD800 <= unit <= 0xDBFF:
            self._high = unit
            self._state = _HIGH
        else:
            self._parts.append(chr(unit))
            self._state = _STR

    def _run(self, s: str) -> None:
        i = 0
        n = len(s)
        while i < n:
            state = self._state
            if state == _STR:
                match = _STRING_RUN.match(s, i)
                j = match.end() if match is not None else i
                if j > i:
                    self._parts.append(s[i:j])
                if j == n:
                    return
                ch = s[j]
                if ch == '"':
                    self._close_string()
                elif ch == "\\":
                    self._state = _ESCAPE
                else:
                    raise self._fail(j, f"invalid control character {_describe(ch)} in string")
                i = j + 1
            elif state <= _MEMBER_VALUE:  # _TOP, _ARRAY_FIRST, _ARRAY_NEXT, _MEMBER_VALUE
                ch = s[i]
                if ch in _WHITESPACE:
                    pass
                elif ch == "]" and state == _ARRAY_FIRST:
                    self._close_container()
                else:
                    self._start_value(s, i)
                i += 1
            elif state == _AFTER_VALUE:
                ch = s[i]
                is_object = type(self._stack[-1]) is dict
                if ch in _WHITESPACE:
                    pass
                elif ch == ",":
                    self._state = _OBJECT_NEXT if is_object else _ARRAY_NEXT
                elif ch == ("}" if is_object else "]"):
                    self._close_container()
                else:
                    expected = "',' or '}' after object member" if is_object else "',' or ']' after array item"
                    raise self._fail(i, f"expected {expected}, found {_describe(ch)}")
                i += 1
            elif state in (_OBJECT_FIRST, _OBJECT_NEXT):
                ch = s[i]
                if ch in _WHITESPACE:
                    pass
                elif ch == '"':
                    self._in_key = True
                    self._state = _STR
                elif ch == "}" and state == _OBJECT_FIRST:
                    self._close_container()
                else:
                    expected = "an object key or '}'" if state == _OBJECT_FIRST else "an object key"
                    raise self._fail(i, f"expected {expected}, found {_describe(ch)}")
                i += 1
            elif state == _COLON:
                ch = s[i]
                if ch == ":":
                    self._state = _MEMBER_VALUE
                elif ch not in _WHITESPACE:
                    raise self._fail(i, f"expected ':' after object key, found {_describe(ch)}")
                i += 1
            elif state == _DONE:
                ch = s[i]
                if ch not in _WHITESPACE:
                    raise self._fail(i, f"unexpected {_describe(ch)} after the end of the JSON value")
                i += 1
            elif state == _NUMBER:
                if self._num_state in _N_DIGIT_RUN:
                    match = _DIGIT_RUN.match(s, i)
                    j = match.end() if match is not None else i
                    if j > i:
                        self._num.append(s[i:j])
                        i = j
                        continue
                if self._number(s, i):
                    i += 1
            elif state == _ESCAPE:
                self._escape(s, i)
                i += 1
            elif state == _UNICODE:
                ch = s[i]
                if ch not in _HEX:
                    raise self._fail(i, f"invalid \\uXXXX escape: expected a hex digit, found {_describe(ch)}")
                self._u_acc = (self._u_acc << 4) | int(ch, 16)
                self._u_digits += 1
                if self._u_digits == 4:
                    self._end_unicode(self._u_acc)
                i += 1
            elif state == _HIGH:
                if s[i] == "\\":
                    self._state = _HIGH_BACKSLASH
                    i += 1
                else:
                    # No pair: the high surrogate stands alone; reread this character as content.
                    self._parts.append(chr(self._high))
                    self._state = _STR
            elif state == _HIGH_BACKSLASH:
                if s[i] == "u":
                    self._u_digits = 0
                    self._u_acc = 0
                    self._u_low = True
                    self._state = _UNICODE
                    i += 1
                else:
                    # Another escape follows a lone high surrogate; reread this character as it.
                    self._parts.append(chr(self._high))
                    self._state = _ESCAPE
            else:  # _LITERAL
                ch = s[i]
                word = self._lit_word
                if ch != word[self._lit_pos]:
                    raise self._fail(i, f"invalid literal: expected '{word}', found {_describe(ch)}")
                self._lit_pos += 1
                if self._lit_pos == len(word):
                    self._attach(self._lit_value)
                    self._after_value()
                i += 1
