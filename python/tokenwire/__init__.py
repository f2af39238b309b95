"""tokenwire: one fast, resilient Python client for every LLM provider.

The streaming core (SSE decoding, incremental JSON, provider stream dialects, token
buckets) is native Rust with a pure-Python twin; :func:`backend` tells which one runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenwire import errors
from tokenwire._backend import BACKEND as _BACKEND
from tokenwire._backend import impl as _impl

__version__ = "0.1.0"

if TYPE_CHECKING:
    # Type checkers see the native signatures (the pure twin mirrors them).
    from tokenwire._native import (
        DEFAULT_MAX_EVENT_BYTES,
        DIALECTS,
        ENCODINGS,
        Citation,
        EventStreamDecoder,
        Finish,
        JsonStreamParser,
        ReasoningDelta,
        ServerSentEvent,
        SSEDecoder,
        StreamProcessor,
        TextDelta,
        TokenBucket,
        ToolCallDelta,
        Usage,
        count_tokens,
        encode,
    )
else:
    DEFAULT_MAX_EVENT_BYTES = _impl.DEFAULT_MAX_EVENT_BYTES
    DIALECTS = _impl.DIALECTS
    ENCODINGS = _impl.ENCODINGS
    count_tokens = _impl.count_tokens
    encode = _impl.encode
    Citation = _impl.Citation
    EventStreamDecoder = _impl.EventStreamDecoder
    Finish = _impl.Finish
    JsonStreamParser = _impl.JsonStreamParser
    ReasoningDelta = _impl.ReasoningDelta
    SSEDecoder = _impl.SSEDecoder
    ServerSentEvent = _impl.ServerSentEvent
    StreamProcessor = _impl.StreamProcessor
    TextDelta = _impl.TextDelta
    TokenBucket = _impl.TokenBucket
    ToolCallDelta = _impl.ToolCallDelta
    Usage = _impl.Usage


# The client layer imports httpx/anyio and provider machinery: load it on first use so
# `import tokenwire` stays cheap for users of the streaming core alone.
_LAZY = {
    "AsyncClient": "tokenwire.client",
    "Client": "tokenwire.client",
    "ProviderManager": "tokenwire.manager",
    "ProviderRegistry": "tokenwire.registry",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tokenwire' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from tokenwire.client import AsyncClient, Client
    from tokenwire.manager import ProviderManager
    from tokenwire.registry import ProviderRegistry


def backend() -> str:
    """Which streaming core is in use: ``"native"`` (Rust) or ``"python"`` (the pure twin)."""
    return _BACKEND


__all__ = [
    "AsyncClient",
    "Citation",
    "Client",
    "DEFAULT_MAX_EVENT_BYTES",
    "DIALECTS",
    "ENCODINGS",
    "EventStreamDecoder",
    "Finish",
    "JsonStreamParser",
    "ProviderManager",
    "ProviderRegistry",
    "ReasoningDelta",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamProcessor",
    "TextDelta",
    "TokenBucket",
    "ToolCallDelta",
    "Usage",
    "__version__",
    "backend",
    "count_tokens",
    "encode",
    "errors",
]
