"""Public request and response types.

Messages are plain OpenAI-style dicts or typed :class:`Message` objects; both are
normalized with :func:`coerce_messages`. Every type is a frozen dataclass (slotted on
Python ≥ 3.10). Stream tokens (``TextDelta``, ``Usage``, …) are the streaming core's
classes and are re-exported here.

Nothing in this module runs per chunk: the hot path stays in the native core.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from tokenwire._backend import impl as _impl

if TYPE_CHECKING:
    from tokenwire._native import (
        Citation,
        Finish,
        ReasoningDelta,
        StreamToken,
        TextDelta,
        ToolCallDelta,
        Usage,
    )
else:
    Citation = _impl.Citation
    Finish = _impl.Finish
    ReasoningDelta = _impl.ReasoningDelta
    TextDelta = _impl.TextDelta
    ToolCallDelta = _impl.ToolCallDelta
    Usage = _impl.Usage
    StreamToken = Union[TextDelta, ReasoningDelta, ToolCallDelta, Usage, Citation, Finish]

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Citation",
    "CompletionRequest",
    "CompletionResponse",
    "ContentPart",
    "Finish",
    "HealthStatus",
    "ImagePart",
    "Message",
    "MessageLike",
    "ModelInfo",
    "ProviderCapabilities",
    "ReasoningDelta",
    "ReasoningEffort",
    "Role",
    "StreamToken",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "coerce_messages",
    "coerce_tools",
]

# dataclass(slots=True) needs Python 3.10; on 3.9 the types are plain frozen dataclasses.
_SLOTS: dict[str, bool] = {"slots": True} if sys.version_info >= (3, 10) else {}

Role = Literal["system", "user", "assistant", "tool"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]
_ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True, **_SLOTS)
class TextPart:
    """A text content part."""

    text: str

    @property
    def type(self) -> Literal["text"]:
        return "text"


@dataclass(frozen=True, **_SLOTS)
class ImagePart:
    """An image content part: base64 ``data`` with its ``media_type``, or a ``url``."""

    data: Optional[str] = None
    media_type: str = "image/png"
    url: Optional[str] = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("ImagePart needs exactly one of data (base64) or url")

    @property
    def type(self) -> Literal["image"]:
        return "image"

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str = "image/png") -> ImagePart:
        """An image from raw bytes (base64-encoded here)."""
        return cls(data=base64.b64encode(raw).decode("ascii"), media_type=media_type)

    @classmethod
    def from_url(cls, url: str) -> ImagePart:
        """An image by URL; ``data:`` URLs are decoded into ``data``/``media_type``."""
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            media_type = header[5:].split(";", 1)[0] or "image/png"
            if ";base64" not in header:
                raise ValueError("only base64 data: URLs are supported for images")
            return cls(data=payload, media_type=media_type)
        return cls(url=url)

    def data_url(self) -> str:
        """The image as a URL (a ``data:`` URL for inline data)."""
        if self.url is not None:
            return self.url
        return f"data:{self.media_type};base64,{self.data}"

    def __repr__(self) -> str:
        # Base64 payloads can be megabytes: keep reprs (and logs) short.
        if self.data is not None:
            return f"ImagePart(media_type={self.media_type!r}, data=<{len(self.data)} base64 chars>)"
        return f"ImagePart(url={self.url!r})"


ContentPart = Union[TextPart, ImagePart]


@dataclass(frozen=True, **_SLOTS)
class ToolCall:
    """A complete tool call requested by the model; ``arguments`` is its JSON text."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> Any:
        """``json.loads(arguments)`` (an empty string counts as ``{}``)."""
        return json.loads(self.arguments) if self.arguments.strip() else {}


@dataclass(frozen=True, **_SLOTS)
class Message:
    """One chat message.

    ``content`` is a string or a sequence of parts. An assistant message may carry
    ``tool_calls``; a ``tool`` message answers one call (``tool_call_id``), with
    ``is_error`` marking a failed tool run.
    """

    role: Role
    content: Union[str, tuple[ContentPart, ...]] = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: Optional[str] = None
    name: Optional[str] = None
    is_error: bool = False

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"unknown message role {self.role!r}; expected one of {', '.join(_ROLES)}")
        if not isinstance(self.content, str):
            object.__setattr__(self, "content", tuple(self.content))
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")

    @property
    def text(self) -> str:
        """The text of the message (text parts joined)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def parts(self) -> tuple[ContentPart, ...]:
        """The content as parts (a non-empty string becomes one TextPart)."""
        if isinstance(self.content, str):
            return (TextPart(self.content),) if self.content else ()
        return self.content

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Build from an OpenAI-style message dict.

        Understands string content and content lists with ``text`` and ``image_url``
        parts (also the Anthropic-style ``image`` part with a base64 ``source``),
        ``tool_calls`` and ``tool_call_id``.
        """
        role = data.get("role")
        if role not in _ROLES:
            raise ValueError(f"message role must be one of {', '.join(_ROLES)}, got {role!r}")
        raw = data.get("content")
        content: Union[str, tuple[ContentPart, ...]]
        if raw is None:
            content = ""
        elif isinstance(raw, str):
            content = raw
        elif isinstance(raw, Sequence):
            content = tuple(_part_from_dict(p) for p in raw)  # type: ignore[arg-type]
        else:
            raise ValueError(f"message content must be a string or a list of parts, got {type(raw).__name__}")
        raw_calls = data.get("tool_calls")
        calls = tuple(_tool_call_from_dict(c) for c in raw_calls) if raw_calls else ()
        # Positional (the field order): this runs for every message of every request.
        return cls(role, content, calls, data.get("tool_call_id"), data.get("name"), bool(data.get("is_error", False)))


def _part_from_dict(part: Any) -> ContentPart:
    if isinstance(part, (TextPart, ImagePart)):
        return part
    if isinstance(part, str):
        return TextPart(part)
    if not isinstance(part, Mapping):
        raise ValueError(f"content part must be a dict, got {type(part).__name__}")
    kind = part.get("type")
    if kind == "text":
        return TextPart(str(part["text"]))
    if kind == "image_url":
        image_url = part["image_url"]
        url = image_url["url"] if isinstance(image_url, Mapping) else image_url
        return ImagePart.from_url(str(url))
    if kind == "image":
        source = part.get("source") or {}
        if source.get("type") == "base64":
            return ImagePart(data=str(source["data"]), media_type=str(source.get("media_type", "image/png")))
        if source.get("type") == "url":
            return ImagePart(url=str(source["url"]))
    raise ValueError(f"unsupported content part type {kind!r}")


def _tool_call_from_dict(call: Any) -> ToolCall:
    if isinstance(call, ToolCall):
        return call
    fn = call.get("function") or {}
    arguments = fn.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return ToolCall(id=str(call["id"]), name=str(fn["name"]), arguments=arguments)


MessageLike = Union[Message, Mapping[str, Any]]


def coerce_messages(messages: Iterable[MessageLike]) -> tuple[Message, ...]:
    """Normalize dicts and :class:`Message` objects to a tuple of messages."""
    out = tuple(m if isinstance(m, Message) else Message.from_dict(m) for m in messages)
    if not out:
        raise ValueError("messages must not be empty")
    return out


@dataclass(frozen=True, **_SLOTS)
class Tool:
    """A function the model may call; ``parameters`` is its JSON Schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tool:
        """From the OpenAI shape ``{"type": "function", "function": {...}}``, a flat
        ``{"name", "description", "parameters"}`` dict, or Anthropic's ``input_schema``."""
        fn = data.get("function", data)
        params = fn.get("parameters", fn.get("input_schema"))
        return cls(
            name=str(fn["name"]),
            description=str(fn.get("description", "")),
            parameters=params if params is not None else {"type": "object", "properties": {}},
        )


def coerce_tools(tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]]) -> tuple[Tool, ...]:
    """Normalize tool dicts and :class:`Tool` objects."""
    return tuple(t if isinstance(t, Tool) else Tool.from_dict(t) for t in tools or ())


@dataclass(frozen=True, **_SLOTS)
class ChatRequest:
    """A chat request, provider-neutral.

    ``system`` is the system prompt (``system`` messages inside ``messages`` are
    accepted too and joined after it). ``reasoning_effort`` applies to OpenAI-style
    reasoning models; ``thinking_budget`` enables extended thinking where the provider
    supports a token budget (Anthropic, Gemini, Bedrock). ``options`` carries
    provider-specific switches (documented per provider); ``extra_headers`` and
    ``extra_body`` are merged into the HTTP request last.
    """

    model: str
    messages: tuple[Message, ...]
    system: Optional[str] = None
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: Optional[Union[str, Mapping[str, Any]]] = None
    response_format: Optional[Mapping[str, Any]] = None
    reasoning_effort: Optional[ReasoningEffort] = None
    thinking_budget: Optional[int] = None
    user: Optional[str] = None
    options: Mapping[str, Any] = field(default_factory=dict)
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    timeout: Optional[float] = None

    def system_prompt(self) -> Optional[str]:
        """``system`` plus the text of any system messages, joined by blank lines."""
        parts = [self.system] if self.system else []
        parts.extend(m.text for m in self.messages if m.role == "system" and m.text)
        return "\n\n".join(parts) if parts else None

    def conversation(self) -> tuple[Message, ...]:
        """The messages without system messages."""
        return tuple(m for m in self.messages if m.role != "system")


@dataclass(frozen=True, **_SLOTS)
class CompletionRequest:
    """A plain-prompt completion. Providers without a legacy completions endpoint
    answer it as a one-message chat."""

    model: str
    prompt: str
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    stop: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    timeout: Optional[float] = None

    def as_chat(self) -> ChatRequest:
        """The equivalent one-message chat request."""
        return ChatRequest(
            model=self.model,
            messages=(Message("user", self.prompt),),
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=self.stop,
            options=self.options,
            extra_headers=self.extra_headers,
            extra_body=self.extra_body,
            timeout=self.timeout,
        )


@dataclass(frozen=True, **_SLOTS)
class ChatResponse:
    """A complete chat answer."""

    text: str
    model: str
    provider: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Optional[Usage] = None
    finish_reason: Optional[str] = None
    citations: tuple[Citation, ...] = ()
    request_id: Optional[str] = None


@dataclass(frozen=True, **_SLOTS)
class CompletionResponse:
    """A complete plain-prompt completion."""

    text: str
    model: str
    provider: str
    usage: Optional[Usage] = None
    finish_reason: Optional[str] = None
    request_id: Optional[str] = None

    @classmethod
    def from_chat(cls, answer: ChatResponse) -> CompletionResponse:
        """The completion a one-message chat ``answer`` makes (text, usage, finish, ids)."""
        return cls(
            text=answer.text,
            model=answer.model,
            provider=answer.provider,
            usage=answer.usage,
            finish_reason=answer.finish_reason,
            request_id=answer.request_id,
        )


@dataclass(frozen=True, **_SLOTS)
class ModelInfo:
    """What is known about a model: limits, features and prices (USD per million tokens)."""

    id: str
    provider: str
    display_name: Optional[str] = None
    context_window: Optional[int] = None
    max_output_tokens: Optional[int] = None
    supports_images: bool = False
    supports_prompt_cache: bool = False
    supports_reasoning: bool = False
    input_price: Optional[float] = None
    output_price: Optional[float] = None
    cache_write_price: Optional[float] = None
    cache_read_price: Optional[float] = None


@dataclass(frozen=True, **_SLOTS)
class ProviderCapabilities:
    """What a provider supports."""

    streaming: bool = True
    tools: bool = True
    images: bool = False
    reasoning: bool = False
    prompt_cache: bool = False
    legacy_completions: bool = False
    list_models: bool = True
    count_tokens_endpoint: bool = False


@dataclass(frozen=True, **_SLOTS)
class HealthStatus:
    """The result of one health check."""

    provider: str
    healthy: bool
    latency_ms: Optional[float] = None
    error: Optional[str] = None
    checked_at: float = field(default_factory=time.time)
