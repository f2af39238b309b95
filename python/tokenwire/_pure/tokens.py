"""Pure-Python twins of the native stream token classes.

Tokens are frozen value objects with ``__slots__``, ``__match_args__``, equality,
hashing, a readable repr and a ``kind`` class attribute for fast dispatch. They are
hand-written rather than dataclasses because ``slots=True`` needs Python 3.10.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Optional

__all__ = ["Citation", "Finish", "ReasoningDelta", "TextDelta", "ToolCallDelta", "Usage"]


class _Token:
    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[str] = ""

    def _values(self) -> tuple[Any, ...]:
        return tuple(object.__getattribute__(self, name) for name in self.__match_args__)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in zip(self.__match_args__, self._values()))
        return f"{type(self).__name__}({args})"

    def __reduce__(self) -> Any:
        return (type(self), self._values())


class TextDelta(_Token):
    """A fragment of the answer text."""

    __slots__ = ("text",)
    __match_args__ = ("text",)
    kind = "text"
    text: str

    def __init__(self, text: str) -> None:
        object.__setattr__(self, "text", text)


class ReasoningDelta(_Token):
    """A fragment of the model's reasoning (thinking) text."""

    __slots__ = ("text",)
    __match_args__ = ("text",)
    kind = "reasoning"
    text: str

    def __init__(self, text: str) -> None:
        object.__setattr__(self, "text", text)


class ToolCallDelta(_Token):
    """A fragment of a tool call: ``id``/``name`` on the first fragment, argument JSON text after."""

    __slots__ = ("arguments", "id", "index", "name")
    __match_args__ = ("index", "id", "name", "arguments")
    kind = "tool_call"
    index: int
    id: Optional[str]
    name: Optional[str]
    arguments: str

    def __init__(self, index: int, id: Optional[str] = None, name: Optional[str] = None, arguments: str = "") -> None:
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "arguments", arguments)


class Usage(_Token):
    """Token usage for the whole response (emitted once per stream), and the cost the
    provider reported, when it reports one.

    ``cost`` (USD, keyword-only) is not one of the ``__match_args__``; it takes part in
    equality, hashing and the repr (which shows it only when it is not ``None``).
    """

    __slots__ = ("cache_read_tokens", "cache_write_tokens", "cost", "input_tokens", "output_tokens", "reasoning_tokens")
    __match_args__ = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
    kind = "usage"
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost: Optional[float]

    def __init__(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        *,
        cost: Optional[float] = None,
    ) -> None:
        object.__setattr__(self, "input_tokens", input_tokens)
        object.__setattr__(self, "output_tokens", output_tokens)
        object.__setattr__(self, "cache_read_tokens", cache_read_tokens)
        object.__setattr__(self, "cache_write_tokens", cache_write_tokens)
        object.__setattr__(self, "reasoning_tokens", reasoning_tokens)
        object.__setattr__(self, "cost", None if cost is None else _as_float(cost))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        # Compared as floats are: NaN never equals (a tuple would let the same NaN object
        # equal itself), 0.0 == -0.0.
        return self._values() == other._values() and self.cost == other.cost  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values(), self.cost))

    def __repr__(self) -> str:
        text = super().__repr__()
        if self.cost is None:
            return text
        return f"{text[:-1]}, cost={self.cost!r})"

    def __reduce__(self) -> Any:
        if self.cost is None:
            return (type(self), self._values())
        # ``cost`` is keyword-only: bind it, and pass the counts positionally.
        return (functools.partial(type(self), cost=self.cost), self._values())


def _as_float(value: object) -> float:
    """``value`` as a float, accepting what a native ``f64`` argument accepts (floats,
    ints, objects with ``__float__`` or ``__index__``) and refusing strings."""
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"cost must be a real number, not {type(value).__name__}")
    return float(value)  # type: ignore[arg-type]


class Citation(_Token):
    """A source the answer cites (web search, grounding, Perplexity citations)."""

    __slots__ = ("title", "url")
    __match_args__ = ("url", "title")
    kind = "citation"
    url: str
    title: Optional[str]

    def __init__(self, url: str, title: Optional[str] = None) -> None:
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "title", title)


class Finish(_Token):
    """The provider's finish / stop reason, verbatim (``stop``, ``end_turn``, ``STOP``, …)."""

    __slots__ = ("reason",)
    __match_args__ = ("reason",)
    kind = "finish"
    reason: str

    def __init__(self, reason: str) -> None:
        object.__setattr__(self, "reason", reason)
