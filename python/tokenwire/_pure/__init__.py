"""Pure-Python twins of every class in ``tokenwire._native``.

Same names, same behaviour: this package is the reference the native core is tested
against (every chunking of every fixture must give equal results). It is also the
fallback when the native module is unavailable, and can be forced with
``TOKENWIRE_PURE_PYTHON=1``.
"""

from tokenwire._pure.bpe import ENCODINGS, count_tokens, encode
from tokenwire._pure.bucket import TokenBucket
from tokenwire._pure.eventstream import EventStreamDecoder
from tokenwire._pure.json_stream import JsonStreamParser
from tokenwire._pure.processor import DIALECTS, StreamProcessor
from tokenwire._pure.sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder
from tokenwire._pure.tokens import Citation, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "DIALECTS",
    "ENCODINGS",
    "EventStreamDecoder",
    "Citation",
    "Finish",
    "JsonStreamParser",
    "ReasoningDelta",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamProcessor",
    "TextDelta",
    "TokenBucket",
    "ToolCallDelta",
    "Usage",
    "count_tokens",
    "encode",
]
