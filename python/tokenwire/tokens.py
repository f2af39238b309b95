"""Local token counting: OpenAI's ``o200k_base`` BPE and Roo-Code's input estimate.

:func:`count_tokens` and :func:`encode` run on the active backend (the native core,
or its pure-Python twin); both give tiktoken's ``encode_ordinary`` results from the
``o200k_base`` ranks shipped with the package, which load on the first call.

:func:`estimate_input_tokens` is the local estimate of a request's prompt size that
Roo-Code uses when a provider has no counting endpoint (or it fails). The rule, from
Roo-Code's ``src/utils/tiktoken.ts``:

- a text block counts its ``o200k_base`` tokens, special-token strings as plain text
  (empty text counts 0);
- an image with inline base64 data counts ``ceil(sqrt(len(base64 data)))``, any other
  image (a URL) a flat 300;
- the sum is multiplied by a fudge factor of 1.5 and rounded up.

What becomes a block: the system prompt, then each message's text parts and images,
in order, as Roo-Code flattens a conversation (``src/core/condense``). Roo's counter
gives 0 to ``tool_use`` / ``tool_result`` blocks and counts tool definitions only as
part of its system prompt (its tools are described there). tokenwire sends tools,
calls and results as structured data, so it counts them as text blocks instead of
dropping them: each tool definition's JSON (name, description, parameters), each tool
call's name and arguments, and a tool message's content like any other message's.
No per-message overhead is added (Roo adds none; the fudge factor covers it).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from tokenwire._backend import impl as _impl
from tokenwire.types import ImagePart, TextPart

if TYPE_CHECKING:
    from tokenwire._native import ENCODINGS, count_tokens, encode
    from tokenwire.types import ChatRequest
else:
    ENCODINGS = _impl.ENCODINGS
    count_tokens = _impl.count_tokens
    encode = _impl.encode

__all__ = [
    "ENCODINGS",
    "FUDGE_FACTOR",
    "UNKNOWN_IMAGE_TOKENS",
    "count_tokens",
    "encode",
    "estimate_input_tokens",
    "image_tokens",
]

FUDGE_FACTOR = 1.5
"""Roo-Code's safety margin on local counts (``TOKEN_FUDGE_FACTOR``)."""

UNKNOWN_IMAGE_TOKENS = 300
"""Roo-Code's estimate for an image whose data it does not have (a URL)."""


def image_tokens(image: ImagePart) -> int:
    """Roo-Code's estimate for one image: ``ceil(sqrt(len(base64 data)))``, or 300."""
    if image.data is None:
        return UNKNOWN_IMAGE_TOKENS
    size = len(image.data)
    root = math.isqrt(size)
    return root + (root * root < size)  # exact ceil(sqrt(size))


def _tool_json(name: str, description: str, parameters: object) -> str:
    return json.dumps(
        {"name": name, "description": description, "parameters": parameters},
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )


def estimate_input_tokens(request: ChatRequest, encoding: str = "o200k_base") -> int:
    """Roo-Code's local estimate of ``request``'s input tokens (see the module docs):
    ``ceil(1.5 * (text tokens + image estimates))``."""
    total = 0
    if request.system:
        total += count_tokens(request.system, encoding)
    for tool in request.tools:
        total += count_tokens(_tool_json(tool.name, tool.description, tool.parameters), encoding)
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                total += count_tokens(part.text, encoding)
            else:
                total += image_tokens(part)
        for call in message.tool_calls:
            total += count_tokens(call.name, encoding) + count_tokens(call.arguments, encoding)
    # ceil(total * 1.5) in integers, exact for any size.
    return (3 * total + 1) // 2
