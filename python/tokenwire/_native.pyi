"""Type stubs for ``tokenwire._native`` (hand-written; checked with mypy.stubtest).

The pure-Python twins in ``tokenwire._pure`` have exactly these names and signatures.
"""

from typing import Any, ClassVar, Final, Optional, Union, final

__version__: Final[str]

DEFAULT_MAX_EVENT_BYTES: Final[int]
"""Default bound on one SSE event's buffered bytes (16 MiB)."""

DIALECTS: Final[tuple[str, ...]]
"""The stream dialects ``StreamProcessor`` accepts."""

# ---------------------------------------------------------------------------
# Stream tokens
# ---------------------------------------------------------------------------

@final
class TextDelta:
    """A fragment of the answer text."""

    kind: ClassVar[str]  # "text"
    __match_args__: ClassVar[tuple[str]]
    @property
    def text(self) -> str: ...
    def __new__(cls, text: str) -> TextDelta: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ReasoningDelta:
    """A fragment of the model's reasoning (thinking) text."""

    kind: ClassVar[str]  # "reasoning"
    __match_args__: ClassVar[tuple[str]]
    @property
    def text(self) -> str: ...
    def __new__(cls, text: str) -> ReasoningDelta: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ToolCallDelta:
    """A tool-call fragment: ``id``/``name`` on the first fragment of a call, argument JSON text after.

    ``index`` identifies the call within the stream (the provider's index for
    OpenAI chat; the 0-based ordinal of the call for the other dialects).
    """

    kind: ClassVar[str]  # "tool_call"
    __match_args__: ClassVar[tuple[str, str, str, str]]
    @property
    def index(self) -> int: ...
    @property
    def id(self) -> Optional[str]: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def arguments(self) -> str: ...
    def __new__(
        cls, index: int, id: Optional[str] = None, name: Optional[str] = None, arguments: str = ""
    ) -> ToolCallDelta: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Usage:
    """Token usage for the whole response; a stream emits at most one, at its end.

    ``cost`` is the cost in USD the provider reported, when it reports one (OpenRouter,
    Vercel AI Gateway: ``usage.cost``); ``None`` otherwise, and :mod:`tokenwire.catalog`
    computes one. It is keyword-only and not one of the ``__match_args__``; it takes part
    in equality (compared as floats: NaN never equals), hashing and the repr, which
    shows it only when it is not ``None``.
    """

    kind: ClassVar[str]  # "usage"
    __match_args__: ClassVar[tuple[str, str, str, str, str]]
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...
    @property
    def reasoning_tokens(self) -> int: ...
    @property
    def cost(self) -> Optional[float]:
        """The cost the provider reported, when it reports one; tokenwire.catalog computes
        one otherwise."""
    def __new__(
        cls,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        *,
        cost: Optional[float] = None,
    ) -> Usage: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Citation:
    """A source the answer cites."""

    kind: ClassVar[str]  # "citation"
    __match_args__: ClassVar[tuple[str, str]]
    @property
    def url(self) -> str: ...
    @property
    def title(self) -> Optional[str]: ...
    def __new__(cls, url: str, title: Optional[str] = None) -> Citation: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Finish:
    """The provider's finish / stop reason, verbatim."""

    kind: ClassVar[str]  # "finish"
    __match_args__: ClassVar[tuple[str]]
    @property
    def reason(self) -> str: ...
    def __new__(cls, reason: str) -> Finish: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

StreamToken = Union[TextDelta, ReasoningDelta, ToolCallDelta, Usage, Citation, Finish]

# ---------------------------------------------------------------------------
# SSE
# ---------------------------------------------------------------------------

@final
class ServerSentEvent:
    """One dispatched event.

    ``event`` is the type (``"message"`` when the block had no ``event`` field),
    ``data`` the data lines joined with ``"\\n"``, ``id`` the last event ID in effect
    (``None`` until an ``id`` field has been seen; it persists across events, as in
    the spec), ``retry`` the reconnection time in ms set by this event's block, if any.
    """

    @property
    def event(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def id(self) -> Optional[str]: ...
    @property
    def retry(self) -> Optional[int]: ...
    def __new__(
        cls, event: str = "message", data: str = "", id: Optional[str] = None, retry: Optional[int] = None
    ) -> ServerSentEvent: ...
    def json(self) -> Any:
        """``json.loads(self.data)``."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SSEDecoder:
    """WHATWG "parsing an event stream", incrementally, over byte chunks.

    Lines end with CR, LF or CRLF (a CR ending one chunk and an LF starting the next
    are one line end); one leading BOM is stripped; ``:`` lines are comments; one
    space after the colon is removed; data lines join with ``"\\n"``; an ``id``
    containing NUL is ignored; ``retry`` is honoured only when all ASCII digits.

    **Empty data dispatches nothing** (the spec's rule): a block with ``event:`` but
    no ``data`` line, or only comments, produces no event. Some SDKs dispatch such
    blocks; tokenwire follows the spec.

    Invalid UTF-8 is replaced with U+FFFD per line; a code point split across chunks
    decodes correctly. ``max_event_bytes`` bounds the bytes buffered for one event
    (pending line plus data); past it ``feed`` raises ``StreamDecodeError`` with the
    absolute byte offset.
    """

    def __new__(cls, max_event_bytes: int = ...) -> SSEDecoder: ...
    def feed(self, chunk: Union[bytes, bytearray, memoryview]) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return the events it completed. After a ``StreamDecodeError``
        the decoder stays failed (events completed earlier in the same chunk are lost with it;
        ``feed_into`` keeps them) and every later ``feed`` raises the same error until
        ``flush()``."""
    def feed_into(self, chunk: Union[bytes, bytearray, memoryview], events: list[ServerSentEvent]) -> None:
        """Decode ``chunk``, appending the events it completes to ``events`` (a ``list``).
        The events completed before a ``StreamDecodeError`` are in ``events`` when it
        propagates; otherwise the same as ``feed``."""
    def flush(self) -> list[ServerSentEvent]:
        """End of stream. Per the spec an unterminated final event is discarded, so this
        returns ``[]``; it resets the decoder's per-stream state (buffers, BOM detection,
        ``bytes_fed``, a failure) but not ``last_event_id`` or ``retry``."""
    @property
    def last_event_id(self) -> Optional[str]: ...
    @property
    def retry(self) -> Optional[int]:
        """The reconnection time (ms) most recently set by a valid ``retry`` field."""
    @property
    def bytes_fed(self) -> int:
        """Bytes fed since the stream started (construction or the last ``flush()``)."""
    @property
    def has_partial_event(self) -> bool:
        """Whether the stream stopped inside an event: a partial line (a partial BOM at
        stream start counts) or data fields that no blank line has dispatched yet. An
        ``event``/``id``/``retry`` field alone (such a block dispatches nothing) and a
        pending CR do not count. Checked at end of input, it tells a clean end from a
        stream cut inside an event."""

# ---------------------------------------------------------------------------
# Incremental JSON
# ---------------------------------------------------------------------------

@final
class JsonStreamParser:
    """Incremental JSON for tool-call arguments that arrive in fragments.

    ``feed`` costs O(len(fragment)); nothing is ever re-parsed. ``value()`` returns
    the best partial value for the text fed so far, as new objects on every call (the
    caller may mutate them):

    - containers are closed: a partial object/array is returned as a dict/list;
    - strings may be partial (as object values and array items) from their opening
      quote on (``""`` counts); a pending escape is held back;
    - an object member appears once its key is complete and its value has started;
    - numbers and the literals ``true``, ``false``, ``null`` are held back until
      complete (a literal at its last letter; a number when a character that cannot
      extend it follows, or at ``finish()``).

    So ``value()`` on any prefix never contradicts the final ``json.loads`` result
    (with duplicate keys — last value wins at the first position, as in ``json.loads`` —
    a partial value may show an earlier value of a key). ``value()`` is ``None`` before
    any value has started. Integers become ``int(text)``, other numbers ``float(text)``;
    lone surrogate escapes (``"\\ud800"``) stay lone surrogates, as in ``json.loads``.

    Strict JSON: ``NaN``/``Infinity`` (which ``json.loads`` accepts) are rejected.
    An invalid character, or nesting deeper than ``max_depth`` (default 512), raises
    ``JSONStreamError`` whose ``offset`` is the index of the offending character in the
    whole input. After an error the parser is failed: ``feed``/``finish`` raise the same
    error again and ``value()`` still returns what was read before it.
    """

    def __new__(cls, max_depth: int = 512) -> JsonStreamParser: ...
    def feed(self, fragment: str) -> None: ...
    def value(self) -> Any: ...
    def is_complete(self) -> bool:
        """True once one whole top-level value has been read and no error occurred (a
        bare top-level number counts as complete only when followed by whitespace, or
        after ``finish()``)."""
    def finish(self) -> Any:
        """End of input: completes a trailing top-level number and returns the value;
        raises ``JSONStreamError`` if the document is incomplete (the parser is left
        unchanged, so more input may still be fed)."""
    @property
    def offset(self) -> int:
        """Characters (code points) fed so far; after an error, the offending one's index."""

# ---------------------------------------------------------------------------
# AWS event-stream framing (Bedrock)
# ---------------------------------------------------------------------------

@final
class EventStreamDecoder:
    """Incremental decoder of AWS event-stream messages (``application/vnd.amazon.eventstream``).

    Both checksums (prelude CRC32 and message CRC32) and every header are validated.
    ``feed()`` returns the ``(headers, payload)`` of each message the chunk completed;
    header values are ``bool``, ``int`` (i8/i16/i32/i64 and timestamps in ms), ``bytes``
    (byte arrays and UUIDs) or ``str``, as botocore's parser gives them, and a repeated
    name keeps its last value. A message longer than ``max_message_bytes`` (whole frame)
    is refused at its prelude. Errors are ``StreamDecodeError`` with a chunking-independent
    absolute offset: the prelude CRC field (``start + 8``), the message CRC field
    (``start + total - 4``), the message start (bad or oversized length), ``start + 4``
    (bad headers length), the first byte of a malformed header; ``finish()`` raises
    ``StreamDecodeError("stream ended inside an event", bytes_fed)`` if a partial message
    is buffered. An error drops the messages completed earlier in the same call.
    """

    def __new__(cls, max_message_bytes: int = ...) -> EventStreamDecoder: ...
    @property
    def pending(self) -> bool:
        """True while a partial message is buffered."""
    def feed(self, chunk: bytes) -> list[tuple[dict[str, Union[bool, int, bytes, str]], bytes]]: ...
    def finish(self) -> None: ...

# ---------------------------------------------------------------------------
# StreamProcessor
# ---------------------------------------------------------------------------

@final
class StreamProcessor:
    """Raw provider stream bytes in, normalized tokens out, in one pass.

    ``dialect`` is one of :data:`DIALECTS`: ``"openai-chat"``, ``"openai-responses"``,
    ``"anthropic"``, ``"gemini"``, ``"ndjson"``, ``"bedrock"``.

    ``bedrock`` reads binary AWS event-stream messages (CRC-checked; see
    :class:`EventStreamDecoder`; ``max_event_bytes`` bounds a whole message): by default
    ConverseStream events; with ``invoke_model="anthropic"``, ``"titan"`` or ``"llama"``,
    InvokeModelWithResponseStream ``chunk`` events whose base64 ``bytes`` hold that model
    family's own JSON chunks (Claude chunks go through the ``anthropic`` dialect). An
    ``exception`` message raises the ``ProviderError`` subclass of its
    ``:exception-type`` (``ThrottlingException`` → ``RateLimitError``, …). The exact
    rules are in ``tokenwire._pure.bedrock``. ``invoke_model`` with another dialect, or
    an unknown family, is a ``ValueError``.

    With ``coalesce=True`` (default) adjacent ``TextDelta``s, and adjacent
    ``ReasoningDelta``s, decoded from one ``feed()`` call are merged into one token;
    ``coalesce=False`` yields one token per field the dialect extracts (an event may
    carry several: reasoning, text, tool-call fragments), in the dialect's fixed order.

    ``think_tags=True`` (``openai-chat`` and ``ndjson`` only; ``ValueError`` for the
    others) splits the text content (``delta.content``, a legacy ``choices[].text``,
    Ollama's ``message.content``): ``<think>…</think>`` blocks become ``ReasoningDelta``,
    the rest ``TextDelta``. Only the exact tags ``<think>`` and ``</think>`` count; blocks
    may appear anywhere, any number of times, and do not nest; the tags are dropped and
    the text around them is kept exactly. A tag split across deltas or chunks (even one
    character per delta) is held back until the next text decides it; held text is
    released before the choice's ``Finish``, at ``[DONE]``/``"done": true`` and by
    ``finish()``. (Roo-Code's ``XmlMatcher`` differs: it only opens a block at the very
    start of the stream, accepts ``< think >`` and nests; see
    ``tokenwire._pure.processor``.) ``coalesce`` and ``think_tags`` must be ``bool``.

    ``envelope="response"`` (``gemini`` only; ``ValueError`` for the others, and for any
    other value) reads Gemini Code Assist streams, which wrap every
    GenerateContentResponse as ``{"response": {…}, "traceId": …}``: an event's
    ``response`` object is read in place of the event, and an event without one is read
    as it is (an ``error`` object still raises). ``None`` (default) reads the event.

    ``openai-chat`` also reads ``delta.content`` given as an array of content parts
    (Mistral's Magistral models: ``text`` parts are text, the ``text`` parts inside a
    ``thinking`` part are reasoning), the cache fields of the compatible providers
    (cache reads and writes: the first non-zero of the fields that mean them, e.g.
    ``prompt_tokens_details.cached_tokens`` / ``cache_read_input_tokens`` and
    ``prompt_tokens_details.caching_tokens`` / ``cache_creation_input_tokens``) and a
    reported ``usage.cost`` (OpenRouter, Vercel AI Gateway; plus OpenRouter's BYOK
    ``cost_details.upstream_inference_cost``) into ``Usage.cost``. The exact rules are
    in ``tokenwire._pure.processor``.

    ``Usage`` is emitted once, when the stream's terminal event arrives (or at
    ``finish()``), with the last values the provider reported. An error reported
    inside the stream raises the matching ``tokenwire.errors.ProviderError``
    subclass; tokens decoded before it in the same chunk are returned first and the
    error is raised by the next ``feed()``/``finish()`` call, so nothing already
    decoded is lost.
    """

    def __new__(
        cls,
        dialect: str,
        *,
        coalesce: bool = True,
        max_event_bytes: int = ...,
        think_tags: bool = False,
        invoke_model: Optional[str] = None,
        envelope: Optional[str] = None,
    ) -> StreamProcessor: ...
    @property
    def dialect(self) -> str: ...
    @property
    def done(self) -> bool:
        """True once the stream's terminal marker has been seen (``[DONE]``,
        ``message_stop``, ``response.completed``, a final Gemini chunk, ``"done": true``)."""
    def feed(self, chunk: bytes) -> list[StreamToken]: ...
    def finish(self) -> list[StreamToken]:
        """End of input: returns the remaining tokens (Gemini citations, a pending
        ``Usage``); raises ``StreamDecodeError`` if the stream ended inside an event (a
        partial line, or data not yet dispatched). A second call returns ``[]``;
        ``feed()`` after ``finish()`` raises ``ValueError``."""

# ---------------------------------------------------------------------------
# Token bucket
# ---------------------------------------------------------------------------

@final
class TokenBucket:
    """A token bucket as a pure state machine over an injected clock (seconds, float).

    ``rate`` tokens per second refill up to ``burst``; the bucket starts full. It
    never reads a clock or sleeps: the caller passes ``now`` and does the waiting.
    A ``now`` earlier than the last one seen counts as no elapsed time (the bucket
    never refills negatively). ``rate`` must be finite and ``>= 0``, ``burst`` finite
    and ``> 0``, every ``now`` finite; otherwise ``ValueError``. Native and pure give
    bit-identical results.
    """

    def __new__(cls, rate: float, burst: float, now: float = 0.0) -> TokenBucket: ...
    def try_acquire(self, tokens: float, now: float) -> float:
        """Take ``tokens`` if available and return 0.0; otherwise take nothing and
        return the seconds to wait until they will be (``inf`` if never at the current
        rates). Calling again at ``now + wait`` (or later) then succeeds, barring other
        calls between; a denial never returns 0.0. Raises ``ValueError`` if ``tokens``
        exceeds ``burst`` (it could never be granted), is negative or not finite."""
    def set_rate(self, rate: float, now: float, burst: Optional[float] = None) -> None:
        """Change the refill rate (and optionally the burst) from ``now`` on. The refill
        up to ``now`` is settled at the old rate first; a lower burst caps the tokens. An
        active :meth:`drain` schedule keeps its rate until its ``reset_at``."""
    def drain(self, remaining: float, reset_at: float, now: float) -> None:
        """Adopt the provider's view: ``remaining`` tokens now (clamped to ``[0, burst]``),
        full again at ``reset_at``. Until ``reset_at`` the refill rate is
        ``(burst - remaining) / (reset_at - now)`` (an untouched bucket is full at
        ``reset_at`` exactly); after it, the configured rate. If ``reset_at <= now``
        the tokens are set and the configured rate applies."""
    def refund(self, tokens: float, now: float) -> None:
        """Give back tokens (an over-estimate corrected from the usage), capped at burst."""
    def available(self, now: float) -> float:
        """The tokens available at ``now``, without taking any."""
    @property
    def rate(self) -> float:
        """The configured refill rate (tokens per second)."""
    @property
    def burst(self) -> float:
        """The capacity."""

# ---------------------------------------------------------------------------
# Token counting
# ---------------------------------------------------------------------------

ENCODINGS: Final[tuple[str, ...]]
"""The encodings ``count_tokens`` and ``encode`` accept: ``("o200k_base",)``."""

def count_tokens(text: str, encoding: str = "o200k_base") -> int:
    """The number of tokens in ``text`` under ``encoding`` (OpenAI's BPE, as tiktoken's
    ``encode_ordinary`` counts them).

    Special-token strings such as ``"<|endoftext|>"`` count as the plain text they are
    and never raise. Lone surrogates are repaired as tiktoken does (a UTF-16 round
    trip: a well-ordered pair joins, a lone one becomes U+FFFD). The ranks are read
    from ``tokenwire/data/<encoding>.tiktoken`` on the first call, not at import; a
    missing file raises ``OSError``, an unknown encoding ``ValueError``.
    """

def encode(text: str, encoding: str = "o200k_base") -> list[int]:
    """The token ids of ``text`` under ``encoding`` (tiktoken's ``encode_ordinary``);
    same rules as :func:`count_tokens`."""
