"""Pure-Python ``StreamProcessor``: raw provider stream bytes in, normalized tokens out.

This is the reference twin of the native processor; both implement the same dialect
specification token for token. In short:

Framing and JSON
    ``openai-chat``, ``openai-responses``, ``anthropic`` and ``gemini`` are Server-Sent
    Events (decoded by :class:`~tokenwire._pure.sse.SSEDecoder`); ``ndjson`` (Ollama's
    native ``/api/chat``) is one JSON value per LF-terminated line (a trailing CR is
    stripped, blank lines are skipped, a line longer than ``max_event_bytes`` is a
    :class:`~tokenwire.errors.StreamDecodeError`). Every event's data is parsed exactly
    as :func:`json.loads` would, except that ``NaN``/``Infinity`` are rejected, an
    escaped lone surrogate becomes U+FFFD, and two limits are fixed rather than left to
    the interpreter: integers of more than 4300 digits (CPython's default conversion
    limit) and nesting deeper than 512 are invalid. A value that is not an object is
    ignored; invalid JSON raises ``StreamDecodeError("invalid JSON in <dialect> event…")``
    whose offset is the number of bytes fed so far (this chunk included). ``finish()``
    raises ``StreamDecodeError("stream ended inside an event")`` when the bytes stop in a
    partial line or after SSE data that no blank line dispatched (an ``event:`` or
    ``id:`` field alone does not count).

Field typing
    Text fields must be JSON strings, counts JSON integers in ``0..2**64-1``, indexes
    JSON integers in ``0..2**32-1``, flags exactly ``true``; anything else counts as
    absent. Empty text never yields a token.

Dialects (the field each token comes from)
    - ``openai-chat`` (OpenAI Chat Completions and every compatible provider): per
      choice with ``index`` 0 (or none): ``delta.reasoning_content`` (else
      ``delta.reasoning``), ``delta.content``, the choice's ``text`` (legacy
      Completions ``text_completion`` chunks), ``delta.tool_calls[]``,
      ``finish_reason``. ``delta.content`` may be an array of content parts (Mistral's
      Magistral models), read as Roo-Code's ``mistral.ts`` reads them, in order: a
      ``{"type": "text"}`` part's ``text`` is text content, the ``{"type": "text"}``
      parts in a ``{"type": "thinking"}`` part's ``thinking`` list are reasoning, other
      parts are skipped. Usage from ``usage``: cache reads are the first non-zero of
      ``prompt_tokens_details.cached_tokens``, ``cache_read_input_tokens`` (Unbound,
      LiteLLM, xAI), DeepSeek's ``prompt_cache_hit_tokens`` and Moonshot's
      ``cached_tokens``; cache writes the first non-zero of
      ``prompt_tokens_details.cache_write_tokens`` (OpenRouter),
      ``prompt_tokens_details.caching_tokens`` (Requesty) and
      ``cache_creation_input_tokens`` — "first non-zero" as Roo-Code's ``||`` chains,
      so a zero in one field does not hide a count in another; reasoning from
      ``completion_tokens_details``; ``Usage.cost`` from ``cost`` (OpenRouter, Vercel AI
      Gateway: a number, finite and ≥ 0, else absent; ``-0`` is ``0.0``) plus
      OpenRouter's BYOK ``cost_details.upstream_inference_cost`` when that is one too,
      and ``None`` without a ``cost``. Groq's ``x_groq.usage`` is a fallback,
      Perplexity's ``search_results``/``citations`` are deduplicated citations, and
      ``data: [DONE]`` (any surrounding ASCII whitespace, any length) is the terminal
      marker.
    - ``anthropic`` (Messages): text/thinking/tool_use blocks and their deltas,
      ``citations_delta``, usage from ``message_start`` and ``message_delta``,
      ``message_stop`` as the terminal marker.
    - ``openai-responses`` (Responses API): output/reasoning text deltas, function
      calls (by ordinal, arguments matched by ``item_id`` or ``output_index``),
      ``url_citation`` annotations, ``response.completed``/``incomplete`` (finish
      reason, usage) and ``response.failed``/``error``.
    - ``gemini`` (``streamGenerateContent?alt=sse``, Vertex too): parts of
      ``candidates[0]`` (``thought: true`` marks reasoning), ``functionCall`` (whole
      ``args`` as compact JSON, or Gemini 3's streamed ``partialArgs`` rebuilt into
      argument JSON text by :class:`_PartialArgsWriter`), ``finishReason``,
      ``usageMetadata`` and ``groundingMetadata`` (citations, emitted by ``finish()``).
      Gemini has no terminal marker: ``done`` reports a finish reason, and every later
      event (usage typically follows) is still read. With ``envelope="response"``
      (Gemini Code Assist, which wraps each payload as ``{"response": {…}, "traceId":
      …}``) an event's ``response`` object is read in its place; an event without one
      is read as it is (an ``error`` object still raises). Other values are a
      ``ValueError``, and so is the option with another dialect.
    - ``ndjson`` (Ollama): ``message.thinking``/``content``/``tool_calls`` and the
      final ``"done": true`` line with its counts.
    - ``bedrock`` (AWS Bedrock, binary event-stream framing): ConverseStream events, or
      with ``invoke_model=`` the InvokeModelWithResponseStream chunks of Claude, Titan or
      Llama; exception messages become provider errors. See :mod:`tokenwire._pure.bedrock`.

Decisions
    - Only the first choice/candidate is read: ``n > 1`` is unsupported, as in Roo-Code.
    - ``Usage`` is emitted once per stream, at the terminal event (or by ``finish()``
      when there is none, e.g. Gemini), carrying the last values reported, and never
      when the stream reported none.
    - Anthropic documents ``message_delta`` usage as cumulative, so its counts replace
      ``message_start``'s; Roo-Code adds them, which double-counts output tokens.
    - Anthropic blocks after the first are preceded by a ``"\\n"`` text (or reasoning)
      token, as Roo-Code separates them.
    - Tool-call arguments given as JSON values (Gemini ``args``, Ollama ``arguments``)
      become compact JSON text in which numbers keep their source spelling, so nothing
      is lost to float re-formatting.
    - Errors are deferred, never lossy: when a provider error (or a decode error) is
      found after tokens were decoded in the same ``feed()`` call, those tokens are
      returned and the error is raised by the next ``feed()``/``finish()``; after a
      failure every call raises the same error again.
    - After the terminal marker later events are ignored (framing still runs, so a
      stream cut inside an event is still reported by ``finish()``).

``think_tags`` (``openai-chat`` and ``ndjson``; a ``ValueError`` for the other dialects,
whose streams carry reasoning in fields of its own)
    The text content (``delta.content``, legacy ``text``, Ollama's ``message.content``;
    never the reasoning fields) is split: ``<think>…</think>`` blocks become
    ``ReasoningDelta``, the rest ``TextDelta``. Outside a block only the exact tag
    ``<think>`` opens one; inside, only the exact ``</think>`` closes it (case-sensitive,
    no spaces or attributes). Tags are dropped; blocks may appear anywhere, any number
    of times, and do not nest (a ``<think>`` inside a block is reasoning text, a
    ``</think>`` outside one is text); the text before, between and after blocks is kept
    exactly, whitespace included. A tag may be split anywhere across deltas and chunks:
    text that ends in a proper prefix of the awaited tag (``<``, ``<thi``, ``</th``) is
    held back until the next text decides it, and released as it stands (text outside a
    block, reasoning inside) before the choice's ``Finish``, at ``[DONE]`` / ``"done":
    true`` and by ``finish()``. An unclosed block is reasoning to the end.

    Roo-Code's ``XmlMatcher`` (``src/utils/xml-matcher.ts``, used by its OpenAI, Ollama,
    LM Studio and Cerebras handlers) differs, and we differ from it on purpose: it opens
    a block only when ``<`` is the very first character of the stream (``"\n<think>"``
    and any second block stay text), accepts spaces in the tags (``< think >``) and
    nests blocks by depth, keeping inner tags in the reasoning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, Optional, Union

from tokenwire._pure.sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder
from tokenwire._pure.tokens import Citation, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from tokenwire.errors import StreamDecodeError, TokenwireError, stream_error

if TYPE_CHECKING:
    from tokenwire._pure.bedrock import BedrockStream

__all__ = ["DIALECTS", "StreamProcessor"]

DIALECTS: tuple[str, ...] = ("openai-chat", "openai-responses", "anthropic", "gemini", "ndjson", "bedrock")

_Token = Union[TextDelta, ReasoningDelta, ToolCallDelta, Usage, Citation, Finish]
_UsageFields = tuple[int, int, int, int, int]
# (input, output, cache_read, cache_write, reasoning)

_U64_MAX = 2**64 - 1
_U32_MAX = 2**32 - 1
_INF = float("inf")
# ASCII whitespace as WHATWG (and Rust's is_ascii_whitespace) define it: no vertical tab.
_ASCII_WS = " \t\n\r\x0c"
_ASCII_WS_BYTES = b" \t\n\r\x0c"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# usageMetadata counts: input, output, cache read, reasoning.
_GEMINI_COUNTS = ("promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount")


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


class _RawInt(str):
    """A JSON integer kept as its source text (numbers are parsed this way when they must
    be re-emitted verbatim, or when ``int()`` would refuse the digit count)."""

    __slots__ = ()


class _RawFloat(str):
    """A JSON number with a fraction or exponent, kept as its source text."""

    __slots__ = ()


class _InvalidJSON(Exception):
    """Internal: the event's data is not acceptable JSON (the detail is the message)."""


class _ConstantNotAllowed(Exception):
    pass


class _IntegerTooLong(Exception):
    pass


# json.loads refuses integers with more digits than CPython's int() converts by default
# (sys.int_info.default_max_str_digits). The limit is fixed here, whatever this
# process's own setting, so both backends agree.
_MAX_INT_DIGITS = 4300
_LONG_DIGIT_RUN = re.compile(f"[0-9]{{{_MAX_INT_DIGITS + 1}}}")
# The nesting limit shared with the native scanner; json.loads alone would recurse up
# to the interpreter's recursion limit, which depends on the caller's stack.
_MAX_DEPTH = 512
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _reject_constant(name: str) -> Any:
    raise _ConstantNotAllowed(f"{name} is not allowed")


def _raw_int(text: str) -> _RawInt:
    if len(text) - (text[0] == "-") > _MAX_INT_DIGITS:
        raise _IntegerTooLong(f"integer literal has more than {_MAX_INT_DIGITS} digits")
    return _RawInt(text)


_FAST_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_RAW_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_raw_int, parse_float=_RawFloat)


def _too_deep(text: str) -> bool:
    """Whether containers nest deeper than ``_MAX_DEPTH`` (brackets inside strings ignored)."""
    if text.count("[") + text.count("{") <= _MAX_DEPTH:
        return False
    depth = 0
    for token in _STRING_OR_BRACKET.findall(text):
        if token in ("[", "{"):
            depth += 1
            if depth > _MAX_DEPTH:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def _loads(text: str, raw: bool = False) -> Any:
    """``json.loads(text)`` with the dialect rules; ``raw=True`` keeps numbers as source text."""
    if _too_deep(text):
        raise _InvalidJSON(f"nesting deeper than {_MAX_DEPTH}")
    try:
        if raw:
            return _RAW_DECODER.decode(text)
        value = _FAST_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _InvalidJSON(str(exc)) from None
    except (_ConstantNotAllowed, _IntegerTooLong) as exc:
        raise _InvalidJSON(str(exc)) from None
    except RecursionError:
        raise _InvalidJSON("nesting too deep") from None
    except ValueError:
        # int() refused the digit count under this process's limit: decide by ours.
        return _loads(text, raw=True)
    if len(text) > _MAX_INT_DIGITS and _LONG_DIGIT_RUN.search(text) is not None:
        # This process may convert longer integers than the fixed limit allows.
        _loads(text, raw=True)
    return value


def _fix(text: str) -> str:
    """``text`` with lone surrogates (from ``\\udXXX`` escapes) replaced by U+FFFD."""
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def _str(value: Any) -> Optional[str]:
    """``value`` if it is a JSON string (lone surrogates replaced by U+FFFD), else ``None``."""
    if type(value) is str:
        if value.isascii():
            return value
        return _LONE_SURROGATE.sub("\ufffd", value)
    return None


def _text(value: Any) -> Optional[str]:
    """A non-empty JSON string, else ``None``."""
    if type(value) is str and value:
        if value.isascii():
            return value
        return _LONE_SURROGATE.sub("\ufffd", value)
    return None


def _uint(value: Any, maximum: int) -> Optional[int]:
    """A JSON integer in ``0..maximum``, else ``None`` (floats, booleans, strings are absent)."""
    kind = type(value)
    if kind is int:
        return value if 0 <= value <= maximum else None
    if kind is _RawInt:
        if value == "-0":
            return 0
        if value.startswith("-") or len(value) > 20:
            return None
        number = int(value)
        return number if number <= maximum else None
    return None


def _count(value: Any) -> int:
    """A usage count: a JSON integer in ``0..2**64-1``, else 0."""
    number = _uint(value, _U64_MAX)
    return 0 if number is None else number


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is _RawInt or kind is _RawFloat or kind is int or kind is float


def _code_text(value: Any) -> Optional[str]:
    """An error code: a string as-is, an integer (``0..2**64-1``) as its decimal text."""
    text = _str(value)
    if text is not None:
        return text
    number = _uint(value, _U64_MAX)
    return None if number is None else str(number)


def _http_status(value: Any) -> Optional[int]:
    number = _uint(value, _U64_MAX)
    return number if number is not None and 100 <= number <= 599 else None


def _dict(value: Any) -> Optional[dict[str, Any]]:
    return value if type(value) is dict else None


def _escape(text: str) -> str:
    """JSON string escaping without quotes, as ``json.dumps(ensure_ascii=False)`` does."""
    return encode_basestring(text)[1:-1]


class _Literal(str):
    """Output text queued on :func:`_compact_json`'s stack (distinct from JSON strings)."""

    __slots__ = ()


def _compact_json(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, except that numbers
    keep their source text. Iterative, so any depth ``json.loads`` accepted is fine."""
    out: list[str] = []
    # The stack holds values to write and literal strings (closers and separators).
    stack: list[Any] = [value]
    literal = _Literal
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is literal:
            out.append(item)
        elif kind is str:
            out.append(encode_basestring(_fix(item)))
        elif kind is _RawInt or kind is _RawFloat:
            out.append(str.__str__(item))
        elif kind is dict:
            if not item:
                out.append("{}")
                continue
            out.append("{")
            pending: list[Any] = []
            for key, member in item.items():
                if pending:
                    pending.append(literal(","))
                pending.append(literal(encode_basestring(_fix(key)) + ":"))
                pending.append(member)
            pending.append(literal("}"))
            stack.extend(reversed(pending))
        elif kind is list:
            if not item:
                out.append("[]")
                continue
            out.append("[")
            pending = []
            for member in item:
                if pending:
                    pending.append(literal(","))
                pending.append(member)
            pending.append(literal("]"))
            stack.extend(reversed(pending))
        elif item is True:
            out.append("true")
        elif item is False:
            out.append("false")
        elif item is None:
            out.append("null")
        else:  # a number parsed without source text (not reached: such events are parsed raw)
            out.append(json.dumps(item))
    return "".join(out)


# ---------------------------------------------------------------------------
# Gemini partialArgs
# ---------------------------------------------------------------------------

# An object member name (str), or an array index (a 1-tuple of its digits without
# leading zeros, so any length compares correctly and never equals a name).
_Segment = Union[str, tuple[str]]
_PATH_PART = re.compile(r"\.([^.\[]*)|\[([0-9]+)\]")


def _parse_json_path(path: str) -> Optional[list[_Segment]]:
    """``$.a.b[0].c`` → ``["a", "b", 0, "c"]``; ``None`` if unparsable (or no segment)."""
    if not path.startswith("$"):
        return None
    segments: list[_Segment] = []
    pos = 1
    end = len(path)
    match = _PATH_PART.match
    while pos < end:
        found = match(path, pos)
        if found is None:
            return None
        name, digits = found.group(1, 2)
        segments.append((digits.lstrip("0") or "0",) if digits is not None else name)
        pos = found.end()
    return segments or None


class _Container:
    __slots__ = ("closer", "has_members", "segment")

    def __init__(self, segment: Optional[_Segment], closer: str) -> None:
        self.segment = segment
        self.closer = closer
        self.has_members = False


class _PartialArgsWriter:
    """Rebuilds a function call's argument JSON text from Gemini's ``partialArgs`` items.

    Each item sets the value at a JSON path (``$.recipe.steps[1]``); strings may arrive
    in pieces (``willContinue``). Items come in document order, so the writer keeps the
    path of open containers and emits only the text each item adds: separators, keys,
    newly opened containers, closers of containers the new path has left, the value.
    """

    __slots__ = ("_open_string", "_stack")

    def __init__(self) -> None:
        self._stack: list[_Container] = []  # [root, ...]; empty until the root is opened
        self._open_string: Optional[list[_Segment]] = None

    def apply(self, segments: list[_Segment], value: Any, is_string: bool, will_continue: bool) -> str:
        out: list[str] = []
        if self._open_string is not None:
            if is_string and self._open_string == segments:
                out.append(_escape(value))
                if not will_continue:
                    out.append('"')
                    self._open_string = None
                return "".join(out)
            out.append('"')
            self._open_string = None
        stack = self._stack
        if not stack:
            if type(segments[0]) is str:
                out.append("{")
                stack.append(_Container(None, "}"))
            else:
                out.append("[")
                stack.append(_Container(None, "]"))
        parents = segments[:-1]
        common = 0
        limit = min(len(parents), len(stack) - 1)
        while common < limit and stack[common + 1].segment == parents[common]:
            common += 1
        while len(stack) - 1 > common:
            out.append(stack.pop().closer)
            stack[-1].has_members = True
        for position in range(common, len(parents)):
            segment = parents[position]
            current = stack[-1]
            if current.has_members:
                out.append(",")
            if type(segment) is str:
                out.append(encode_basestring(_fix(segment)) + ":")
            current.has_members = True
            if type(segments[position + 1]) is str:
                out.append("{")
                stack.append(_Container(segment, "}"))
            else:
                out.append("[")
                stack.append(_Container(segment, "]"))
        leaf = segments[-1]
        current = stack[-1]
        if current.has_members:
            out.append(",")
        if type(leaf) is str:
            out.append(encode_basestring(_fix(leaf)) + ":")
        current.has_members = True
        if is_string:
            out.append('"')
            out.append(_escape(value))
            if will_continue:
                self._open_string = segments
            else:
                out.append('"')
        elif _is_number(value):
            out.append(str.__str__(value) if isinstance(value, str) else json.dumps(value))
        elif value is True:
            out.append("true")
        elif value is False:
            out.append("false")
        else:
            out.append("null")
        return "".join(out)

    def close(self) -> str:
        """The text that completes the arguments (``"{}"`` if nothing was written)."""
        if not self._stack:
            return "{}"
        out: list[str] = []
        if self._open_string is not None:
            out.append('"')
            self._open_string = None
        while self._stack:
            out.append(self._stack.pop().closer)
        return "".join(out)


_NO_VALUE = object()


def _partial_arg_value(item: dict[str, Any]) -> tuple[Any, bool]:
    """(value, is_string) of a partialArgs item; value is ``_NO_VALUE`` when it has none."""
    text = _str(item.get("stringValue"))
    if text is not None:
        return text, True
    number = item.get("numberValue")
    if _is_number(number):
        return number, False
    flag = item.get("boolValue")
    if flag is True or flag is False:
        return flag, False
    if "nullValue" in item:
        return None, False
    return _NO_VALUE, False


# ---------------------------------------------------------------------------
# think_tags
# ---------------------------------------------------------------------------

_THINK_TAG_DIALECTS = ("openai-chat", "ndjson")
_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_TextKind = type[Union[TextDelta, ReasoningDelta]]


class _ThinkTags:
    """The ``think_tags`` option: ``<think>…</think>`` blocks in the text content become
    reasoning (see the module docstring). Tags split across deltas are held back while
    the text still ends in a proper prefix of the tag awaited."""

    __slots__ = ("held", "inside")

    def __init__(self) -> None:
        self.inside = False
        # A proper, non-empty prefix of the awaited tag held back from the last text.
        self.held = ""

    def split(self, text: str, add: Callable[[_TextKind, str], None]) -> None:
        if self.held:
            text = self.held + text
            self.held = ""
        while True:
            tag = _THINK_CLOSE if self.inside else _THINK_OPEN
            at = text.find(tag)
            if at < 0:
                break
            if at:
                add(ReasoningDelta if self.inside else TextDelta, text[:at])
            self.inside = not self.inside
            text = text[at + len(tag) :]
        keep = _partial_tag_len(text, tag)
        if keep:
            self.held = text[-keep:]
            text = text[:-keep]
        if text:
            add(ReasoningDelta if self.inside else TextDelta, text)

    def flush(self, add: Callable[[_TextKind, str], None]) -> None:
        """Release the held-back text as what it is now (text, or reasoning in a block)."""
        if self.held:
            add(ReasoningDelta if self.inside else TextDelta, self.held)
            self.held = ""


def _partial_tag_len(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag`` (only
    the tag's first character is ``<``, so the one candidate starts at the last ``<``)."""
    start = len(text) - min(len(text), len(tag) - 1)
    at = text.rfind("<", start)
    if at >= 0 and tag.startswith(text[at:]):
        return len(text) - at
    return 0


# ---------------------------------------------------------------------------
# The processor
# ---------------------------------------------------------------------------


class _Failure(Exception):
    """Internal: carries the error that ends the stream out of the event handlers."""

    def __init__(self, error: TokenwireError) -> None:
        super().__init__(error)
        self.error = error


def _provider_failure(
    message: str, error_type: Optional[str] = None, code: Optional[str] = None, status: Optional[int] = None
) -> _Failure:
    return _Failure(stream_error(message, error_type, code, status))


class StreamProcessor:
    """Raw provider stream bytes in, normalized tokens out, in one pass.

    ``dialect`` is one of :data:`DIALECTS`. With ``coalesce=True`` (default) adjacent
    ``TextDelta``s, and adjacent ``ReasoningDelta``s, decoded in one ``feed()`` call are
    merged; ``coalesce=False`` yields one token per extracted field. ``Usage`` is emitted
    once, at the terminal event or by ``finish()``. A provider error inside the stream
    raises the matching :class:`~tokenwire.errors.ProviderError`; tokens decoded before
    it in the same chunk are returned first and the error is raised by the next call.
    ``think_tags=True`` (``openai-chat``, ``ndjson``) turns ``<think>…</think>`` blocks
    in the text content into ``ReasoningDelta``; ``envelope="response"`` (``gemini``)
    reads Gemini Code Assist's wrapped events (see the module docstring).
    """

    def __init__(
        self,
        dialect: str,
        *,
        coalesce: bool = True,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        think_tags: bool = False,
        invoke_model: Optional[str] = None,
        envelope: Optional[str] = None,
    ) -> None:
        if type(dialect) is not str or dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of: {', '.join(DIALECTS)}")
        if invoke_model is not None:
            if not isinstance(invoke_model, str):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError(f"invoke_model must be a str, not {type(invoke_model).__name__}")
            if dialect != "bedrock":
                raise ValueError("invoke_model is only valid with the bedrock dialect")
        if not isinstance(coalesce, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"coalesce must be a bool, not {type(coalesce).__name__}")
        if not isinstance(max_event_bytes, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"max_event_bytes must be an int, not {type(max_event_bytes).__name__}")
        if not isinstance(think_tags, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"think_tags must be a bool, not {type(think_tags).__name__}")
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be a positive integer, got {max_event_bytes}")
        if think_tags and dialect not in _THINK_TAG_DIALECTS:
            raise ValueError(f"think_tags applies to the openai-chat and ndjson dialects, not {dialect!r}")
        if envelope is not None:
            if not isinstance(envelope, str):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError(f"envelope must be a str, not {type(envelope).__name__}")
            if envelope != "response":
                raise ValueError(f"unknown envelope {envelope!r}; expected 'response'")
            if dialect != "gemini":
                raise ValueError(f"envelope applies to the gemini dialect, not {dialect!r}")
        self._dialect = dialect
        # The plain function, not a bound method: no reference cycle through self.
        # (bedrock has no text events: its binary framing is driven by BedrockStream.)
        self._handle: Callable[[StreamProcessor, str, str], None] = _HANDLERS.get(dialect, StreamProcessor._ndjson)
        self._coalesce = coalesce
        self._max_event_bytes = max_event_bytes
        self._sse: Optional[SSEDecoder] = None if dialect in {"ndjson", "bedrock"} else SSEDecoder(max_event_bytes)
        self._bedrock: Optional[BedrockStream] = None
        if dialect == "bedrock":
            # Imported here: tokenwire._pure.bedrock builds on this module.
            from tokenwire._pure.bedrock import BedrockStream

            self._bedrock = BedrockStream(invoke_model, max_event_bytes)
        self._line = bytearray()  # ndjson: the pending partial line
        self._bytes_fed = 0
        self._done = False
        self._finished = False
        self._error: Optional[TokenwireError] = None
        # Output of the current call; with coalescing, a run of same-kind text is kept as
        # parts and joined once (repeated concatenation would be quadratic).
        self._out: list[_Token] = []
        self._run_kind: Optional[type[Union[TextDelta, ReasoningDelta]]] = None
        self._run: list[str] = []
        # Per-stream state.
        self._finish_seen = False
        self._usage: Optional[_UsageFields] = None
        self._usage_cost: Optional[float] = None  # openai-chat: the cost the provider reported
        self._usage_emitted = False
        self._top_level_usage_seen = False  # openai-chat: x_groq.usage is only a fallback
        self._cited: set[str] = set()  # openai-chat (Perplexity): URLs already cited
        self._tool_calls = 0  # ordinal of the next tool call (all dialects but openai-chat)
        self._anthropic_tools: dict[int, int] = {}  # content block index -> tool call ordinal
        self._responses_by_item: dict[str, int] = {}  # Responses item id -> tool call ordinal
        self._responses_by_output: dict[int, int] = {}  # Responses output_index -> ordinal
        self._gemini_call: Optional[int] = None  # ordinal of the call whose args are streaming
        self._gemini_args: Optional[_PartialArgsWriter] = None
        self._grounding: Optional[dict[str, Any]] = None
        self._think: Optional[_ThinkTags] = _ThinkTags() if think_tags else None
        self._envelope = envelope is not None  # gemini: read each event's "response" object

    # -- public API -----------------------------------------------------------

    @property
    def dialect(self) -> str:
        return self._dialect

    @property
    def done(self) -> bool:
        """True once the stream's terminal marker has been seen."""
        return self._done

    def feed(self, chunk: bytes) -> list[_Token]:
        """Decode ``chunk`` and return the tokens it completed."""
        if self._error is not None:
            raise self._error
        if self._finished:
            raise ValueError("feed() called after finish()")
        if type(chunk) is not bytes:
            chunk = bytes(chunk)
        base = self._bytes_fed
        # JSON errors report the bytes fed so far, this chunk included.
        self._bytes_fed = base + len(chunk)
        try:
            if self._sse is not None:
                self._feed_sse(self._sse, chunk)
            elif self._bedrock is not None:
                self._bedrock.feed(self, chunk)
            else:
                self._feed_lines(chunk, base)
        except _Failure as failure:
            return self._fail(failure.error)
        return self._take()

    def _feed_sse(self, decoder: SSEDecoder, chunk: bytes) -> None:
        # feed_into() keeps the events completed before an oversized event in the same
        # chunk, so they are processed (and their tokens returned) before the error, as
        # the native decoder's callback delivers them.
        events: list[ServerSentEvent] = []
        overflow: Optional[StreamDecodeError] = None
        try:
            decoder.feed_into(chunk, events)
        except StreamDecodeError as error:
            overflow = error
        # Gemini has no terminal marker: its `done` only reports a finish reason, and
        # events after it (usageMetadata) are still read, in this call and later ones.
        keep_going = self._dialect == "gemini"
        if keep_going or not self._done:
            handle = self._handle
            for event in events:
                handle(self, event.data, event.event)
                if self._done and not keep_going:
                    break
        if overflow is not None:
            raise _Failure(overflow)

    def finish(self) -> list[_Token]:
        """End of input: the remaining tokens (e.g. a pending ``Usage``).

        Raises ``StreamDecodeError`` if the stream ended inside an event. A second call
        returns ``[]``.
        """
        if self._error is not None:
            raise self._error
        if self._finished:
            return []
        if self._ended_inside_event():
            return self._fail(StreamDecodeError("stream ended inside an event", self._bytes_fed))
        if self._dialect == "gemini":
            self._gemini_close_call()
            self._gemini_citations()
        self._think_flush()
        self._emit_usage()
        self._finished = True
        return self._take()

    def __repr__(self) -> str:
        return f"StreamProcessor({self._dialect!r}, done={self._done})"

    # -- output -----------------------------------------------------------------

    def _add_text(self, kind: type[Union[TextDelta, ReasoningDelta]], text: str) -> None:
        if not self._coalesce:
            self._out.append(kind(text))
        elif self._run_kind is kind:
            self._run.append(text)
        else:
            if self._run_kind is not None:
                self._out.append(self._run_kind("".join(self._run)))
            self._run_kind = kind
            self._run = [text]

    def _content(self, text: str) -> None:
        """Text content (openai-chat content and legacy text, ndjson message.content)."""
        if self._think is None:
            self._add_text(TextDelta, text)
        else:
            self._think.split(text, self._add_text)

    def _think_flush(self) -> None:
        if self._think is not None:
            self._think.flush(self._add_text)

    def _add(self, token: _Token) -> None:
        if self._run_kind is not None:
            self._out.append(self._run_kind("".join(self._run)))
            self._run_kind = None
            self._run = []
        self._out.append(token)

    def _take(self) -> list[_Token]:
        if self._run_kind is not None:
            self._out.append(self._run_kind("".join(self._run)))
            self._run_kind = None
            self._run = []
        out = self._out
        self._out = []
        return out

    def _fail(self, error: TokenwireError) -> list[_Token]:
        """Record ``error``; return the tokens decoded before it, or raise it if there are none."""
        self._error = error
        tokens = self._take()
        if tokens:
            return tokens
        raise error

    def _finish_reason(self, reason: str) -> None:
        if not self._finish_seen:
            self._finish_seen = True
            self._add(Finish(reason))

    def _emit_usage(self) -> None:
        if self._usage is not None and not self._usage_emitted:
            self._usage_emitted = True
            self._add(Usage(*self._usage, cost=self._usage_cost))

    def _tool_call(self, index: int, id: Optional[str], name: Optional[str], arguments: str) -> None:
        self._add(ToolCallDelta(index, id, name, arguments))

    # -- framing ----------------------------------------------------------------

    def _parse(self, data: str, raw: bool = False) -> Any:
        try:
            return _loads(data, raw)
        except _InvalidJSON as exc:
            raise _Failure(
                StreamDecodeError(f"invalid JSON in {self._dialect} event: {exc}", self._bytes_fed)
            ) from None

    def _feed_lines(self, chunk: bytes, base: int) -> None:
        """ndjson framing: LF-terminated lines, trailing CR stripped, blank lines skipped."""
        line = self._line
        limit = self._max_event_bytes
        start = 0
        end_of_chunk = len(chunk)
        while True:
            end = chunk.find(b"\n", start)
            stop = end_of_chunk if end < 0 else end
            room = limit - len(line)
            if stop - start > room:
                # As the SSE decoder counts: the offset of the first byte past the limit.
                raise _Failure(StreamDecodeError(f"ndjson line exceeds max_event_bytes ({limit})", base + start + room))
            if end < 0:
                line += chunk[start:]
                return
            if line:
                line += chunk[start:end]
                data = bytes(line)
                line.clear()
            else:
                data = chunk[start:end]
            start = end + 1
            if self._done:
                continue
            if data.endswith(b"\r"):
                data = data[:-1]
            if data.strip(_ASCII_WS_BYTES):
                self._ndjson(data.decode("utf-8", "replace"), "")

    def _ended_inside_event(self) -> bool:
        if self._bedrock is not None:
            return self._bedrock.pending
        if self._sse is None:
            return bool(bytes(self._line).strip(_ASCII_WS_BYTES))
        return self._sse.has_partial_event

    # -- dialects ---------------------------------------------------------------

    def _openai_chat(self, data: str, _event: str) -> None:
        # The terminal marker, whatever ASCII whitespace surrounds it. Object events (the
        # bulk) start with "{" and skip the strip and its copy.
        if data[:1] != "{" and data.strip(_ASCII_WS) == "[DONE]":
            self._done = True
            self._think_flush()
            self._emit_usage()
            return
        obj = self._parse(data)
        if type(obj) is not dict:
            return
        error = obj.get("error")
        if type(error) is dict:
            message = _str(error.get("message"))
            code = error.get("code")
            raise _provider_failure(
                "unknown error" if message is None else message,
                _str(error.get("type")),
                _code_text(code),
                _http_status(code) or _http_status(error.get("status")),
            )
        if type(error) is str:
            raise _provider_failure(_fix(error))
        choices = obj.get("choices")
        if type(choices) is list:
            for choice in choices:
                if type(choice) is dict:
                    index = _uint(choice.get("index"), _U32_MAX)
                    if index is None or index == 0:
                        self._openai_choice(choice)
        usage = obj.get("usage")
        if type(usage) is dict:
            self._top_level_usage_seen = True
            self._usage, self._usage_cost = _openai_usage(usage)
        elif not self._top_level_usage_seen:
            groq = obj.get("x_groq")
            if type(groq) is dict:
                usage = groq.get("usage")
                if type(usage) is dict:
                    self._usage, self._usage_cost = _openai_usage(usage)
        results = obj.get("search_results")
        if type(results) is list:
            for result in results:
                if type(result) is dict:
                    self._cite_once(_text(result.get("url")), _text(result.get("title")))
        citations = obj.get("citations")
        if type(citations) is list:
            for url in citations:
                self._cite_once(_text(url), None)

    def _openai_choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        if type(delta) is dict:
            reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
            if reasoning is not None:
                self._add_text(ReasoningDelta, reasoning)
            raw_content = delta.get("content")
            content = _text(raw_content)
            if content is not None:
                # Inlined _content(): this runs for nearly every event.
                if self._think is None:
                    self._add_text(TextDelta, content)
                else:
                    self._think.split(content, self._add_text)
            elif type(raw_content) is list:
                self._openai_content_parts(raw_content)
        # Legacy Completions chunks carry their text in the choice itself.
        legacy = choice.get("text")
        if legacy is not None:
            legacy = _text(legacy)
            if legacy is not None:
                self._content(legacy)
        if type(delta) is dict:
            tool_calls = delta.get("tool_calls")
            if type(tool_calls) is list:
                for position, item in enumerate(tool_calls):
                    if type(item) is not dict:
                        continue
                    index = _uint(item.get("index"), _U32_MAX)
                    function = item.get("function")
                    name: Optional[str] = None
                    arguments = ""
                    if type(function) is dict:
                        name = _text(function.get("name"))
                        arguments = _str(function.get("arguments")) or ""
                    call_id = _text(item.get("id"))
                    if call_id is None and name is None and not arguments:
                        continue
                    self._tool_call(position if index is None else index, call_id, name, arguments)
        reason = _text(choice.get("finish_reason"))
        if reason is not None:
            # The choice's content is over: held-back text goes before its Finish.
            self._think_flush()
            self._finish_reason(reason)

    def _openai_content_parts(self, parts: list[Any]) -> None:
        """Mistral's content parts, in order: ``text`` parts are text content, the ``text``
        parts inside a ``thinking`` part's ``thinking`` list are reasoning."""
        for part in parts:
            if type(part) is not dict:
                continue
            kind = part.get("type")
            if kind == "text":
                text = _text(part.get("text"))
                if text is not None:
                    self._content(text)
            elif kind == "thinking":
                thinking = part.get("thinking")
                if type(thinking) is list:
                    for inner in thinking:
                        if type(inner) is dict and inner.get("type") == "text":
                            text = _text(inner.get("text"))
                            if text is not None:
                                self._add_text(ReasoningDelta, text)

    def _cite_once(self, url: Optional[str], title: Optional[str]) -> None:
        if url is not None and url not in self._cited:
            self._cited.add(url)
            self._add(Citation(url, title))

    def _anthropic(self, data: str, event: str) -> None:
        obj = self._parse(data)
        if type(obj) is not dict:
            return
        kind = _str(obj.get("type"))
        if kind is None:
            kind = event
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if type(delta) is not dict:
                return
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                text = _text(delta.get("text"))
                if text is not None:
                    self._add_text(TextDelta, text)
            elif delta_type == "thinking_delta":
                text = _text(delta.get("thinking"))
                if text is not None:
                    self._add_text(ReasoningDelta, text)
            elif delta_type == "input_json_delta":
                index = _uint(obj.get("index"), _U32_MAX)
                call = None if index is None else self._anthropic_tools.get(index)
                partial = _text(delta.get("partial_json"))
                if call is not None and partial is not None:
                    self._tool_call(call, None, None, partial)
            elif delta_type == "citations_delta":
                citation = delta.get("citation")
                if type(citation) is dict:
                    url = _text(citation.get("url"))
                    if url is not None:
                        self._add(Citation(url, _text(citation.get("title"))))
        elif kind == "content_block_start":
            block = obj.get("content_block")
            if type(block) is not dict:
                return
            index = _uint(obj.get("index"), _U32_MAX)
            block_type = block.get("type")
            if block_type == "text":
                if index is not None and index > 0:
                    self._add_text(TextDelta, "\n")
                text = _text(block.get("text"))
                if text is not None:
                    self._add_text(TextDelta, text)
            elif block_type == "thinking":
                if index is not None and index > 0:
                    self._add_text(ReasoningDelta, "\n")
                text = _text(block.get("thinking"))
                if text is not None:
                    self._add_text(ReasoningDelta, text)
            elif block_type == "tool_use":
                call = self._tool_calls
                self._tool_calls += 1
                if index is not None:
                    self._anthropic_tools[index] = call
                self._tool_call(call, _text(block.get("id")), _text(block.get("name")), "")
        elif kind == "message_start":
            message = obj.get("message")
            usage = message.get("usage") if type(message) is dict else None
            if type(usage) is dict:
                self._usage = (
                    _count(usage.get("input_tokens")),
                    _count(usage.get("output_tokens")),
                    _count(usage.get("cache_read_input_tokens")),
                    _count(usage.get("cache_creation_input_tokens")),
                    0,
                )
        elif kind == "message_delta":
            delta = obj.get("delta")
            if type(delta) is dict:
                reason = _text(delta.get("stop_reason"))
                if reason is not None:
                    self._finish_reason(reason)
            usage = obj.get("usage")
            if type(usage) is dict:
                current = self._usage or (0, 0, 0, 0, 0)
                self._usage = (
                    _replace_count(usage.get("input_tokens"), current[0]),
                    _replace_count(usage.get("output_tokens"), current[1]),
                    _replace_count(usage.get("cache_read_input_tokens"), current[2]),
                    _replace_count(usage.get("cache_creation_input_tokens"), current[3]),
                    current[4],
                )
        elif kind == "message_stop":
            self._done = True
            self._emit_usage()
        elif kind == "error":
            error = obj.get("error")
            if type(error) is dict:
                raise _provider_failure(
                    _text(error.get("message")) or "unknown error", _str(error.get("type")), None, None
                )

    def _openai_responses(self, data: str, event: str) -> None:
        obj = self._parse(data)
        if type(obj) is not dict:
            return
        kind = _str(obj.get("type"))
        if kind is None:
            kind = event
        if kind == "response.output_text.delta":
            text = _text(obj.get("delta"))
            if text is not None:
                self._add_text(TextDelta, text)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            text = _text(obj.get("delta"))
            if text is not None:
                self._add_text(ReasoningDelta, text)
        elif kind == "response.function_call_arguments.delta":
            call: Optional[int] = None
            item_id = _str(obj.get("item_id"))
            if item_id is not None:
                call = self._responses_by_item.get(item_id)
            if call is None:
                output_index = _uint(obj.get("output_index"), _U32_MAX)
                if output_index is not None:
                    call = self._responses_by_output.get(output_index)
            text = _text(obj.get("delta"))
            if call is not None and text is not None:
                self._tool_call(call, None, None, text)
        elif kind == "response.output_item.added":
            item = obj.get("item")
            if type(item) is dict and item.get("type") == "function_call":
                call = self._tool_calls
                self._tool_calls += 1
                item_id = _str(item.get("id"))
                if item_id is not None:
                    self._responses_by_item[item_id] = call
                output_index = _uint(obj.get("output_index"), _U32_MAX)
                if output_index is not None:
                    self._responses_by_output[output_index] = call
                self._tool_call(
                    call, _text(item.get("call_id")), _text(item.get("name")), _str(item.get("arguments")) or ""
                )
        elif kind == "response.output_text.annotation.added":
            annotation = obj.get("annotation")
            if type(annotation) is dict and annotation.get("type") == "url_citation":
                url = _text(annotation.get("url"))
                if url is not None:
                    self._add(Citation(url, _text(annotation.get("title"))))
        elif kind in ("response.completed", "response.incomplete"):
            response = _dict(obj.get("response"))
            reason: Optional[str] = None
            if response is not None:
                usage = response.get("usage")
                if type(usage) is dict:
                    input_details = _dict(usage.get("input_tokens_details")) or {}
                    output_details = _dict(usage.get("output_tokens_details")) or {}
                    self._usage = (
                        _count(usage.get("input_tokens")),
                        _count(usage.get("output_tokens")),
                        _count(input_details.get("cached_tokens")),
                        0,
                        _count(output_details.get("reasoning_tokens")),
                    )
                details = response.get("incomplete_details")
                if type(details) is dict:
                    reason = _text(details.get("reason"))
                if reason is None:
                    reason = _text(response.get("status"))
            self._finish_reason(reason or kind[len("response.") :])
            self._emit_usage()
            self._done = True
        elif kind == "response.failed":
            self._done = True
            response = _dict(obj.get("response"))
            error = _dict(response.get("error")) if response is not None else None
            if error is not None:
                raise _provider_failure(
                    _text(error.get("message")) or "unknown error", None, _code_text(error.get("code")), None
                )
        elif kind == "error":
            error = _dict(obj.get("error"))
            if error is None:
                error = obj
            raise _provider_failure(
                _text(error.get("message")) or "unknown error",
                _str(error.get("type")),
                _code_text(error.get("code")),
                None,
            )

    def _gemini_payload(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The event's GenerateContentResponse: with ``envelope="response"`` (Gemini Code
        Assist) its ``response`` object when it has one, else the event itself."""
        if self._envelope:
            inner = obj.get("response")
            if type(inner) is dict:
                return inner
        return obj

    def _gemini(self, data: str, _event: str) -> None:
        obj = self._parse(data)
        if type(obj) is not dict:
            return
        obj = self._gemini_payload(obj)
        error = obj.get("error")
        if type(error) is dict:
            code = error.get("code")
            raise _provider_failure(
                _text(error.get("message")) or "unknown error",
                _str(error.get("status")),
                None if type(code) is str else _code_text(code),
                _http_status(code),
            )
        candidates = obj.get("candidates")
        candidate = candidates[0] if type(candidates) is list and candidates else None
        if type(candidate) is dict:
            content = candidate.get("content")
            parts = content.get("parts") if type(content) is dict else None
            if type(parts) is list:
                if any(type(part) is dict and "functionCall" in part for part in parts):
                    # Arguments are re-emitted as JSON text: parse again keeping number spelling.
                    obj = self._gemini_payload(self._parse(data, raw=True))
                    candidate = obj["candidates"][0]
                    parts = candidate["content"]["parts"]
                for part in parts:
                    if type(part) is not dict:
                        continue
                    text = _text(part.get("text"))
                    if text is not None:
                        self._add_text(ReasoningDelta if part.get("thought") is True else TextDelta, text)
                    function_call = part.get("functionCall")
                    if type(function_call) is dict:
                        self._gemini_function_call(function_call)
            reason = _text(candidate.get("finishReason"))
            if reason is not None:
                self._gemini_close_call()
                self._finish_reason(reason)
                self._done = True
            grounding = candidate.get("groundingMetadata")
            if type(grounding) is dict:
                self._grounding = grounding
        elif type(candidates) is not list or not candidates:
            feedback = obj.get("promptFeedback")
            if type(feedback) is dict:
                reason = _text(feedback.get("blockReason"))
                if reason is not None:
                    self._finish_reason(reason)
                    self._done = True
        usage = obj.get("usageMetadata")
        if type(usage) is dict:
            counts = [_uint(usage.get(field), _U64_MAX) for field in _GEMINI_COUNTS]
            if any(count is not None for count in counts):
                prompt, candidates_count, cached, thoughts = (count or 0 for count in counts)
                self._usage = (prompt, candidates_count, cached, 0, thoughts)

    def _gemini_function_call(self, call: dict[str, Any]) -> None:
        name = _text(call.get("name"))
        if name is not None:
            self._gemini_close_call()
            index = self._tool_calls
            self._tool_calls += 1
            call_id = _text(call.get("id"))
            if "args" in call:
                self._tool_call(index, call_id, name, _compact_json(call["args"]))
            elif call.get("willContinue") is True:
                self._tool_call(index, call_id, name, "")
                self._gemini_call = index
                self._gemini_args = _PartialArgsWriter()
            else:
                self._tool_call(index, call_id, name, "{}")
            return
        writer = self._gemini_args
        if writer is None or self._gemini_call is None:
            return
        partial_args = call.get("partialArgs")
        if type(partial_args) is list:
            for item in partial_args:
                if type(item) is not dict:
                    continue
                path = _str(item.get("jsonPath"))
                segments = _parse_json_path(path) if path is not None else None
                if segments is None:
                    continue
                value, is_string = _partial_arg_value(item)
                if value is _NO_VALUE:
                    continue
                fragment = writer.apply(segments, value, is_string, item.get("willContinue") is True)
                if fragment:
                    self._tool_call(self._gemini_call, None, None, fragment)
        if call.get("willContinue") is not True:
            self._gemini_close_call()

    def _gemini_close_call(self) -> None:
        if self._gemini_args is not None and self._gemini_call is not None:
            self._tool_call(self._gemini_call, None, None, self._gemini_args.close())
        self._gemini_args = None
        self._gemini_call = None

    def _gemini_citations(self) -> None:
        grounding = self._grounding
        if grounding is None:
            return
        chunks = grounding.get("groundingChunks")
        if type(chunks) is not list:
            return
        for chunk in chunks:
            web = chunk.get("web") if type(chunk) is dict else None
            if type(web) is dict:
                uri = _text(web.get("uri"))
                if uri is not None:
                    self._add(Citation(uri, _text(web.get("title")) or uri))

    def _ndjson(self, data: str, _event: str) -> None:
        obj = self._parse(data)
        if type(obj) is not dict:
            return
        error = obj.get("error")
        if type(error) is str:
            raise _provider_failure(_fix(error))
        if type(error) is dict:
            raise _provider_failure(_text(error.get("message")) or "unknown error")
        message = obj.get("message")
        if type(message) is dict:
            thinking = _text(message.get("thinking"))
            if thinking is not None:
                self._add_text(ReasoningDelta, thinking)
            content = _text(message.get("content"))
            if content is not None:
                self._content(content)
            tool_calls = message.get("tool_calls")
            if type(tool_calls) is list and tool_calls:
                # Arguments are re-emitted as JSON text: parse again keeping number spelling.
                tool_calls = self._parse(data, raw=True)["message"]["tool_calls"]
                for item in tool_calls:
                    if type(item) is not dict:
                        continue
                    function = _dict(item.get("function")) or {}
                    arguments = _compact_json(function["arguments"]) if "arguments" in function else "{}"
                    index = self._tool_calls
                    self._tool_calls += 1
                    self._tool_call(index, _text(item.get("id")), _text(function.get("name")), arguments)
        if obj.get("done") is True:
            self._think_flush()
            self._finish_reason(_text(obj.get("done_reason")) or "stop")
            prompt = _uint(obj.get("prompt_eval_count"), _U64_MAX)
            completion = _uint(obj.get("eval_count"), _U64_MAX)
            if prompt is not None or completion is not None:
                self._usage = (prompt or 0, completion or 0, 0, 0, 0)
            self._emit_usage()
            self._done = True


_HANDLERS: dict[str, Callable[[StreamProcessor, str, str], None]] = {
    "openai-chat": StreamProcessor._openai_chat,
    "openai-responses": StreamProcessor._openai_responses,
    "anthropic": StreamProcessor._anthropic,
    "gemini": StreamProcessor._gemini,
    "ndjson": StreamProcessor._ndjson,
}


def _first_nonzero(*values: Any) -> int:
    """The first of ``values`` that is a valid count other than zero, else 0."""
    for value in values:
        if value is not None:  # most of these fields are absent
            number = _uint(value, _U64_MAX)
            if number:
                return number
    return 0


def _cost(value: Any) -> Optional[float]:
    """A reported cost: a JSON number whose float value is finite and not negative; ``-0``
    is ``0.0``."""
    kind = type(value)
    if kind is float:
        number: float = value
    elif kind is int:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            return None
    elif kind is _RawInt or kind is _RawFloat:
        number = float(value)  # the source text, as float() reads it
    else:
        return None
    if 0.0 <= number < _INF:
        return number + 0.0  # -0.0 + 0.0 is 0.0
    return None


def _openai_usage(usage: dict[str, Any]) -> tuple[_UsageFields, Optional[float]]:
    """The counts of a Chat Completions ``usage`` object, and the cost it reports."""
    get = usage.get
    details = get("prompt_tokens_details")
    if type(details) is dict:
        cached = details.get("cached_tokens")
        cache_write = details.get("cache_write_tokens")  # OpenRouter
        caching = details.get("caching_tokens")  # Requesty
    else:
        cached = cache_write = caching = None
    # The usual OpenAI report decides at its first field; the others are looked up only
    # when it is absent or zero.
    cache_read = cached if type(cached) is int and 0 < cached <= _U64_MAX else 0
    if not cache_read:
        cache_read = _first_nonzero(
            cached,
            get("cache_read_input_tokens"),  # Unbound, LiteLLM, xAI
            get("prompt_cache_hit_tokens"),  # DeepSeek
            get("cached_tokens"),  # Moonshot
        )
    completion_details = get("completion_tokens_details")
    reasoning = completion_details.get("reasoning_tokens") if type(completion_details) is dict else None
    counts = (
        _count(get("prompt_tokens")),
        _count(get("completion_tokens")),
        cache_read,
        # Unbound, LiteLLM, xAI and Vercel AI Gateway report cache_creation_input_tokens.
        _first_nonzero(cache_write, caching, get("cache_creation_input_tokens")),
        _count(reasoning),
    )
    cost = get("cost")
    if cost is None:  # the usual case: no cost reported
        return counts, None
    return counts, _openai_cost(cost, get("cost_details"))


def _openai_cost(value: Any, details: Any) -> Optional[float]:
    """``usage.cost`` plus OpenRouter's BYOK ``cost_details.upstream_inference_cost``."""
    cost = _cost(value)
    if cost is None:
        return None
    upstream = _cost(details.get("upstream_inference_cost")) if type(details) is dict else None
    if upstream is not None:
        cost += upstream
        if cost == _INF:
            return None
    return cost


def _replace_count(value: Any, current: int) -> int:
    number = _uint(value, _U64_MAX)
    return current if number is None else number
