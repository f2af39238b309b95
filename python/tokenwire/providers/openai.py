"""OpenAI adapters: ``"openai"`` (Chat Completions, Responses, legacy Completions) and
``"azure-openai"`` (Azure OpenAI deployments).

The wire behaviour reproduces Roo-Code (RooCodeInc/Roo-Code at ``9bcd9918``), in our own
code: the Chat Completions path follows its "OpenAI Compatible" handler
(``src/api/providers/openai.ts``, ``src/api/transform/openai-format.ts``,
``src/api/transform/model-params.ts``, ``src/api/transform/reasoning.ts``,
``src/shared/api.ts``); the Responses path follows its OpenAI handler
(``src/api/providers/openai-native.ts``); model facts come from
``packages/types/src/providers/openai.ts``.

Which API
    ``api="auto"`` (the default) sends the models of Roo's OpenAI table to the Responses
    API, as Roo's OpenAI handler does for every model it knows (``gpt-5*``, ``gpt-4.1*``,
    ``gpt-4o``, ``gpt-4o-mini``, ``o1*``, ``o3*``, ``o4-mini``, ``codex-mini-latest``; a
    dated snapshot such as ``gpt-4o-2024-08-06`` counts as its model), and every other
    model to Chat Completions. ``api="chat"`` / ``api="responses"`` (constructor or
    ``request.options["api"]``) force one. The legacy completion models
    (``gpt-3.5-turbo-instruct``, ``davinci-002``, ``babbage-002``) use
    ``POST /completions`` for :meth:`~OpenAIProvider.complete`.

Authentication and URLs
    ``Authorization: Bearer <key>`` (``api_key=`` or ``OPENAI_API_KEY``), plus
    ``OpenAI-Organization`` (``organization=`` / ``OPENAI_ORG_ID``) and ``OpenAI-Project``
    (``project=`` / ``OPENAI_PROJECT_ID``) when set. The base URL (``base_url=`` /
    ``OPENAI_BASE_URL``, default ``https://api.openai.com/v1``) includes ``/v1`` as in the
    official SDKs; calls go to ``{base}/chat/completions``, ``{base}/responses``,
    ``{base}/completions`` and ``{base}/models``. Every call carries
    ``User-Agent: tokenwire/<version>`` and ``Accept`` (``text/event-stream`` when
    streaming, else ``application/json``); calls with a body carry
    ``Content-Type: application/json``.

Chat Completions body (Roo's ``openai.ts``)
    - Reasoning models are the ids containing ``o1``, ``o3`` or ``o4`` (Roo's test): the
      system prompt goes first as a ``developer`` message ``"Formatting re-enabled\\n" +
      system``; ``reasoning_effort`` is the request's or the model's default from the
      table; no temperature.
    - Other models: the system prompt is a ``system`` message; temperature is the
      request's or 0 (Roo's default; ``default_temperature=`` changes it, ``None`` omits
      it), left out for models that reject it (``supportsTemperature: false`` in the
      table, and unknown ``gpt-5*`` / ``codex*`` ids); ``reasoning_effort`` as Roo's
      ``getModelParams``: the request's effort for models that support one (unknown
      models are trusted), else the model's default; ``"minimal"`` is not sent.
    - ``max_completion_tokens`` = ``request.max_tokens`` when set (Roo never sends the
      deprecated ``max_tokens`` to OpenAI; subclasses for other servers may change
      :attr:`OpenAIProvider.max_tokens_field`).
    - Streaming adds ``"stream": true`` and ``"stream_options": {"include_usage": true}``
      (not for ``x.ai`` hosts, as Roo).
    - Messages (Roo's ``convertToOpenAiMessages``): string content stays a string;
      part lists become ``text`` / ``image_url`` (data URL) parts; an assistant's parts
      are joined with ``"\\n"`` into a string and its tool calls become ``tool_calls``
      (content omitted when empty); a ``tool`` message becomes ``{"role": "tool",
      "tool_call_id", "content"}`` with its text parts joined by ``"\\n"`` (an image there
      becomes the text ``"(see following user message for image)"`` as in Roo; the image
      itself is not sent). ``Message.name`` is sent as ``name``.
    - Also sent when set on the request: ``top_p`` (not for models without temperature),
      ``stop``, ``tools`` (``{"type": "function", "function": {name, description,
      parameters}}``, no description when empty), ``tool_choice`` (``"auto"``, ``"none"``,
      ``"required"``, a mapping as given, or a bare tool name → ``{"type": "function",
      "function": {"name"}}``), ``response_format`` (as given) and ``user``.

Responses body (Roo's ``openai-native.ts``)
    ``model`` (``o3-mini-high``/``-low`` → ``o3-mini``), ``input``, ``stream``, ``store``
    (``options["store"]``, default true), ``instructions`` (the system prompt),
    ``reasoning: {effort, summary: "auto"}`` when an effort applies (the request's, else
    the model's default; ``summary`` unless ``reasoning_summary=False``), ``temperature``
    (the request's or Roo's default — 1.0 for ``gpt-5*``, else 0 — for models that
    accept one), ``max_output_tokens`` (the request's, else Roo's reservation: the
    model's max output, capped at 20% of the context window except for GPT-5),
    ``previous_response_id``, ``service_tier`` (``"default"`` or a tier the model lists),
    ``text: {verbosity}`` for models that support verbosity (``options["verbosity"]``,
    default ``"medium"``). Input items: user text → ``input_text``, assistant text →
    ``output_text``, images → ``input_image`` with the data URL; messages without
    content are skipped. Beyond Roo (which sends no tools), tool calls become
    ``function_call`` items and tool results ``function_call_output`` items; ``tools``
    are ``{"type": "function", name, description, parameters, "strict": false}``;
    ``tool_choice`` and ``response_format`` (as ``text.format``), ``top_p`` and ``user``
    are sent when set; ``stop`` is rejected (the Responses API has none). With
    ``previous_response_id`` only the messages after the last assistant message are
    sent (Roo sends only the latest user turn).

Not applicable
    ``thinking_budget`` (OpenAI takes efforts, not budgets) is ignored, as is a tool
    result's ``is_error`` (neither API has such a field).

``request.options`` keys
    - ``api``: ``"auto"`` | ``"chat"`` | ``"responses"`` (overrides the provider's ``api``);
    - ``previous_response_id`` (str), ``store`` (bool), ``include`` (list of str),
      ``service_tier`` (str), ``verbosity`` (``"low"`` | ``"medium"`` | ``"high"``),
      ``reasoning_summary`` (bool, or a summary mode string such as ``"detailed"``):
      Responses API only.
    Other keys are ignored, so one options mapping can serve several providers.
    ``extra_body`` is merged into the body last; a ``None`` value there removes a field
    (e.g. ``{"temperature": None}`` drops the default temperature).

Completions (``complete`` / ``complete_stream``)
    Legacy completion models: ``POST /completions`` with ``prompt``, ``max_tokens``,
    ``temperature``/``top_p``/``stop`` when set, and when streaming ``stream`` +
    ``stream_options.include_usage``. Other models follow Roo's ``completePrompt``: one
    user message without system prompt or default temperature (Chat Completions:
    ``{model, messages}`` + ``max_completion_tokens``; Responses: ``store: false``, no
    instructions, otherwise the Responses rules above).

Responses and streams
    Streams use the ``openai-chat`` / ``openai-responses`` dialects of the native
    ``StreamProcessor``. Non-streaming bodies of the three APIs are parsed here with
    the same field rules, so ``chat()`` and ``chat_stream()`` agree.

Azure OpenAI (:class:`AzureOpenAIProvider`, ``"azure-openai"``)
    ``api-key: <key>`` (``AZURE_OPENAI_API_KEY``), no ``Authorization``; the endpoint
    (``endpoint=``/``base_url=`` or ``AZURE_OPENAI_ENDPOINT``) plus
    ``/openai/deployments/{deployment}/chat/completions`` (deployment = ``deployment=``
    or the request's model); ``api-version`` query parameter (``api_version=``,
    ``OPENAI_API_VERSION``, default ``2024-08-01-preview`` — Roo's
    ``azureOpenAiDefaultApiVersion``). Endpoints on ``*.services.ai.azure.com`` are Azure
    AI Inference, as in Roo: ``Authorization: Bearer``, ``{endpoint}/models/chat/completions``
    and api-version ``2024-05-01-preview``. Chat Completions and legacy Completions
    (``…/deployments/{deployment}/completions``); the Responses API is refused with a
    :class:`~tokenwire.errors.ConfigurationError`. ``list_models`` asks
    ``{endpoint}/openai/models?api-version=…``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Optional, Union

import httpx

from tokenwire import __version__
from tokenwire._backend import impl as _impl
from tokenwire._http import Timeouts
from tokenwire.errors import ConfigurationError, ProviderError, stream_error
from tokenwire.providers.base import HttpCall, Provider, merge_headers
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    Citation,
    CompletionRequest,
    CompletionResponse,
    ImagePart,
    Message,
    ModelInfo,
    ProviderCapabilities,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)

__all__ = [
    "AZURE_AI_INFERENCE_API_VERSION",
    "AZURE_OPENAI_API_VERSION",
    "LEGACY_COMPLETION_MODELS",
    "OPENAI_MODELS",
    "AzureOpenAIProvider",
    "OpenAIModel",
    "OpenAIProvider",
    "chat_body_usage",
    "chat_messages",
    "chat_tool",
    "chat_tool_choice",
    "find_model",
    "is_legacy_completion_model",
    "is_o_family",
    "responses_input",
    "responses_text_format",
    "responses_tool",
    "responses_tool_choice",
]

ApiMode = Literal["auto", "chat", "responses"]
_API_MODES = ("auto", "chat", "responses")

#: Roo: packages/types/src/providers/openai.ts (azureOpenAiDefaultApiVersion).
AZURE_OPENAI_API_VERSION = "2024-08-01-preview"
#: Roo: src/api/providers/openai.ts (the Azure AI Inference default api-version).
AZURE_AI_INFERENCE_API_VERSION = "2024-05-01-preview"
#: Models served by the legacy ``/completions`` endpoint.
LEGACY_COMPLETION_MODELS = ("gpt-3.5-turbo-instruct", "davinci-002", "babbage-002")

#: Roo (openai.ts): the developer message of the o1/o3/o4 path starts with this line.
_FORMATTING_PREFIX = "Formatting re-enabled\n"
#: Roo (openai-format.ts): what replaces an image inside a tool result.
_TOOL_IMAGE_PLACEHOLDER = "(see following user message for image)"
#: Roo: OPENAI_NATIVE_DEFAULT_TEMPERATURE / GPT5_DEFAULT_TEMPERATURE.
_GPT5_DEFAULT_TEMPERATURE = 1.0
_EFFORTS = ("minimal", "low", "medium", "high")
_VERBOSITY = ("low", "medium", "high")
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class OpenAIModel:
    """Facts about one OpenAI model from Roo-Code's table
    (``packages/types/src/providers/openai.ts``): what request building needs, plus
    prices (USD per million tokens) for :meth:`OpenAIProvider.list_models`."""

    max_tokens: int
    context_window: int
    supports_images: bool
    supports_prompt_cache: bool
    input_price: float
    output_price: float
    cache_read_price: float
    supports_reasoning_effort: bool = False
    #: The model's default effort (Roo sends it when the request names none).
    reasoning_effort: Optional[str] = None
    supports_verbosity: bool = False
    #: ``False`` for models that reject ``temperature``; ``None`` when Roo does not say.
    supports_temperature: Optional[bool] = None
    #: Service tiers the model offers besides ``default``.
    tiers: tuple[str, ...] = ()

    @property
    def supports_reasoning(self) -> bool:
        return self.supports_reasoning_effort or self.reasoning_effort is not None


_M = OpenAIModel
_FLEX_PRIORITY = ("flex", "priority")

#: Roo-Code's OpenAI model table at the reference commit (``openAiNativeModels``).
OPENAI_MODELS: Mapping[str, OpenAIModel] = {
    "gpt-5-chat-latest": _M(128_000, 400_000, True, True, 1.25, 10.0, 0.13, supports_verbosity=True),
    "gpt-5-2025-08-07": _M(128_000, 400_000, True, True, 1.25, 10.0, 0.13, True, "medium", True, False, _FLEX_PRIORITY),
    "gpt-5-mini-2025-08-07": _M(
        128_000, 400_000, True, True, 0.25, 2.0, 0.03, True, "medium", True, False, _FLEX_PRIORITY
    ),
    "gpt-5-nano-2025-08-07": _M(128_000, 400_000, True, True, 0.05, 0.4, 0.01, True, "medium", True, False, ("flex",)),
    "gpt-5-codex": _M(128_000, 400_000, True, True, 1.25, 10.0, 0.13, True, "medium", True, False),
    "gpt-4.1": _M(32_768, 1_047_576, True, True, 2.0, 8.0, 0.5, supports_temperature=True, tiers=("priority",)),
    "gpt-4.1-mini": _M(32_768, 1_047_576, True, True, 0.4, 1.6, 0.1, supports_temperature=True, tiers=("priority",)),
    "gpt-4.1-nano": _M(32_768, 1_047_576, True, True, 0.1, 0.4, 0.025, supports_temperature=True, tiers=("priority",)),
    "o3": _M(100_000, 200_000, True, True, 2.0, 8.0, 0.5, True, "medium", False, False, _FLEX_PRIORITY),
    "o3-high": _M(100_000, 200_000, True, True, 2.0, 8.0, 0.5, False, "high", False, False),
    "o3-low": _M(100_000, 200_000, True, True, 2.0, 8.0, 0.5, False, "low", False, False),
    "o4-mini": _M(100_000, 200_000, True, True, 1.1, 4.4, 0.275, True, "medium", False, False, _FLEX_PRIORITY),
    "o4-mini-high": _M(100_000, 200_000, True, True, 1.1, 4.4, 0.275, False, "high", False, False),
    "o4-mini-low": _M(100_000, 200_000, True, True, 1.1, 4.4, 0.275, False, "low", False, False),
    "o3-mini": _M(100_000, 200_000, False, True, 1.1, 4.4, 0.55, True, "medium", False, False),
    "o3-mini-high": _M(100_000, 200_000, False, True, 1.1, 4.4, 0.55, False, "high", False, False),
    "o3-mini-low": _M(100_000, 200_000, False, True, 1.1, 4.4, 0.55, False, "low", False, False),
    "o1": _M(100_000, 200_000, True, True, 15.0, 60.0, 7.5, supports_temperature=False),
    "o1-preview": _M(32_768, 128_000, True, True, 15.0, 60.0, 7.5, supports_temperature=False),
    "o1-mini": _M(65_536, 128_000, True, True, 1.1, 4.4, 0.55, supports_temperature=False),
    "gpt-4o": _M(16_384, 128_000, True, True, 2.5, 10.0, 1.25, supports_temperature=True, tiers=("priority",)),
    "gpt-4o-mini": _M(16_384, 128_000, True, True, 0.15, 0.6, 0.075, supports_temperature=True, tiers=("priority",)),
    "codex-mini-latest": _M(16_384, 200_000, False, False, 1.5, 6.0, 0.0, supports_temperature=False),
}

# Dated ids name their model without the date ("gpt-5" → "gpt-5-2025-08-07", and
# "gpt-4o-2024-08-06" → "gpt-4o"): an alias map built once.
_ALIASES: Mapping[str, str] = {_DATE_SUFFIX.sub("", key): key for key in OPENAI_MODELS if _DATE_SUFFIX.search(key)}


def find_model(model_id: str) -> Optional[tuple[str, OpenAIModel]]:
    """The table entry (key, facts) for ``model_id``: exact, or by its undated name."""
    info = OPENAI_MODELS.get(model_id)
    if info is not None:
        return model_id, info
    undated = _DATE_SUFFIX.sub("", model_id)
    key = undated if undated in OPENAI_MODELS else _ALIASES.get(undated)
    if key is None:
        return None
    return key, OPENAI_MODELS[key]


def is_o_family(model_id: str) -> bool:
    """Roo's reasoning-model test for Chat Completions: the id contains o1, o3 or o4."""
    return "o1" in model_id or "o3" in model_id or "o4" in model_id


def is_legacy_completion_model(model_id: str) -> bool:
    """Whether ``model_id`` (or a fine-tune of it) is served by ``/completions``."""
    base = model_id[3:] if model_id.startswith("ft:") else model_id
    base = base.split(":", 1)[0]
    return any(base == m or base.startswith(m + "-") for m in LEGACY_COMPLETION_MODELS)


def _temperature_allowed(model_id: str, info: Optional[OpenAIModel]) -> bool:
    if info is not None:
        # model-params.ts drops it for o1* and o3-mini*; the table marks the rest.
        return info.supports_temperature is not False and not model_id.startswith(("o1", "o3-mini"))
    # Unknown ids: every reasoning family of the table rejects temperature.
    return not is_o_family(model_id) and not model_id.startswith(("gpt-5", "codex"))


def _reserved_output(key: str, info: OpenAIModel) -> int:
    # Roo's getModelMaxOutputTokens: GPT-5 keeps its full max output; others are capped
    # at 20% of the context window.
    if "gpt-5" in key.lower():
        return info.max_tokens
    return min(info.max_tokens, math.ceil(info.context_window * 0.2))


# -- option readers ------------------------------------------------------------------------
def _opt_bool(options: Mapping[str, Any], key: str, who: str) -> Optional[bool]:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ConfigurationError(f"{who}: request option {key!r} must be a bool, got {type(value).__name__}")
    return value


def _opt_str(options: Mapping[str, Any], key: str, who: str, allowed: Sequence[str] = ()) -> Optional[str]:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{who}: request option {key!r} must be a non-empty string")
    if allowed and value not in allowed:
        raise ConfigurationError(f"{who}: request option {key!r} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _opt_str_list(options: Mapping[str, Any], key: str, who: str) -> Optional[list[str]]:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{who}: request option {key!r} must be a list of non-empty strings")
    return list(value)  # type: ignore[arg-type]


def _api_mode(value: Any, where: str) -> ApiMode:
    if value not in _API_MODES:
        raise ConfigurationError(f"{where} must be one of {', '.join(_API_MODES)}, got {value!r}")
    return value  # type: ignore[no-any-return]


def _apply_extra_body(body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# -- Chat Completions conversion -------------------------------------------------------------
def _chat_part(part: Union[TextPart, ImagePart]) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    return {"type": "image_url", "image_url": {"url": part.data_url()}}


def _tool_result_text(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(p.text if isinstance(p, TextPart) else _TOOL_IMAGE_PLACEHOLDER for p in message.content)


def _chat_message(message: Message) -> Optional[dict[str, Any]]:
    out: dict[str, Any] = {"role": message.role}
    content = message.content
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
        out["content"] = _tool_result_text(message)
        return out
    if message.role == "assistant":
        # Roo joins an assistant's parts into one string (images cannot occur there) and
        # leaves the content out when there is only a tool call.
        if isinstance(content, str):
            if content or not message.tool_calls:
                out["content"] = content
        elif content:
            out["content"] = "\n".join(p.text if isinstance(p, TextPart) else "" for p in content)
        if message.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ]
    elif isinstance(content, str):
        out["content"] = content
    elif content:
        out["content"] = [_chat_part(p) for p in content]
    else:
        # Roo sends no user message for an empty part list.
        return None
    if message.name:
        out["name"] = message.name
    return out


def chat_messages(request: ChatRequest, *, developer: bool = False) -> list[dict[str, Any]]:
    """The ``messages`` array of a Chat Completions request.

    The system prompt comes first: as a ``system`` message, or with ``developer=True``
    (Roo's o1/o3/o4 path) as a ``developer`` message prefixed ``"Formatting re-enabled\\n"``.
    """
    out: list[dict[str, Any]] = []
    system = request.system_prompt()
    if system:
        if developer:
            out.append({"role": "developer", "content": _FORMATTING_PREFIX + system})
        else:
            out.append({"role": "system", "content": system})
    for message in request.conversation():
        converted = _chat_message(message)
        if converted is not None:
            out.append(converted)
    return out


def chat_tool(tool: Tool) -> dict[str, Any]:
    """A tool in Chat Completions form (no description when empty)."""
    fn: dict[str, Any] = {"name": tool.name}
    if tool.description:
        fn["description"] = tool.description
    fn["parameters"] = dict(tool.parameters)
    return {"type": "function", "function": fn}


def chat_tool_choice(choice: Union[str, Mapping[str, Any], None]) -> Union[str, dict[str, Any], None]:
    """``tool_choice`` for Chat Completions: the three keywords, a mapping as given, or a
    bare tool name as ``{"type": "function", "function": {"name"}}``."""
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
        if not choice:
            raise ConfigurationError("openai: tool_choice must not be empty")
        return {"type": "function", "function": {"name": choice}}
    return dict(choice)


# -- Responses conversion --------------------------------------------------------------------
def _responses_content(message: Message, *, text_type: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            content.append({"type": text_type, "text": part.text})
        else:
            # Roo sends every image as input_image with its URL as a plain string.
            content.append({"type": "input_image", "image_url": part.data_url()})
    return content


def _responses_items(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "function_call_output", "call_id": message.tool_call_id, "output": _tool_result_text(message)}]
    items: list[dict[str, Any]] = []
    if message.role == "assistant":
        content = _responses_content(message, text_type="output_text")
        if content:
            items.append({"role": "assistant", "content": content})
        items.extend(
            {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
            for c in message.tool_calls
        )
        return items
    content = _responses_content(message, text_type="input_text")
    if content:
        items.append({"role": "user", "content": content})
    return items


def responses_input(messages: Sequence[Message], *, continuation: bool = False) -> list[dict[str, Any]]:
    """The ``input`` items of a Responses request (system messages excluded).

    With ``continuation=True`` (a ``previous_response_id`` is sent) only the messages
    after the last assistant message are included: the server holds the rest.
    """
    conversation = [m for m in messages if m.role != "system"]
    if continuation:
        last_assistant = max((i for i, m in enumerate(conversation) if m.role == "assistant"), default=-1)
        conversation = conversation[last_assistant + 1 :]
    out: list[dict[str, Any]] = []
    for message in conversation:
        out.extend(_responses_items(message))
    return out


def responses_tool(tool: Tool) -> dict[str, Any]:
    """A function tool in Responses form; ``strict`` is false as in Chat Completions."""
    out: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["parameters"] = dict(tool.parameters)
    out["strict"] = False
    return out


def responses_tool_choice(choice: Union[str, Mapping[str, Any], None]) -> Union[str, dict[str, Any], None]:
    """``tool_choice`` for Responses: keywords as given; a tool name or a Chat-style
    ``{"type": "function", "function": {"name"}}`` → ``{"type": "function", "name"}``."""
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
        if not choice:
            raise ConfigurationError("openai: tool_choice must not be empty")
        return {"type": "function", "name": choice}
    fn = choice.get("function")
    if choice.get("type") == "function" and isinstance(fn, Mapping):
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigurationError("openai: tool_choice {'type': 'function'} needs function.name")
        return {"type": "function", "name": name}
    return dict(choice)


def responses_text_format(response_format: Optional[Mapping[str, Any]]) -> Optional[dict[str, Any]]:
    """A Chat-style ``response_format`` as the Responses ``text.format``: the
    ``json_schema`` wrapper is flattened; other shapes pass as given."""
    if response_format is None:
        return None
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), Mapping):
        inner: Mapping[str, Any] = response_format["json_schema"]
        return {"type": "json_schema", **inner}
    return dict(response_format)


# -- response parsing helpers ------------------------------------------------------------------
def _count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _first(*values: Optional[int]) -> int:
    return next((v for v in values if v is not None), 0)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]


def _sub(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def chat_body_usage(body: Mapping[str, Any]) -> Optional[Usage]:
    """The :class:`Usage` of a non-streaming Chat Completions body (``None`` without one).

    The ``openai-chat`` dialect reads it, as if the body's ``usage`` (and Groq's
    ``x_groq``) arrived as a stream's usage chunk, so a ``chat()`` answer reports exactly
    what ``chat_stream()`` does: every provider's cache-count spelling, reasoning tokens
    and a reported ``cost``, with the dialect's precedence."""
    chunk: dict[str, Any] = {key: body[key] for key in ("usage", "x_groq") if isinstance(body.get(key), Mapping)}
    if not chunk:
        return None
    chunk["choices"] = []
    event = b"data: " + json.dumps(chunk).encode("ascii") + b"\n\n"
    processor = _impl.StreamProcessor("openai-chat", max_event_bytes=max(len(event) + 64, 1 << 20))
    tokens = processor.feed(event) + processor.finish()
    return next((t for t in tokens if isinstance(t, Usage)), None)


def _responses_usage(raw: Any) -> Optional[Usage]:
    if not isinstance(raw, Mapping):
        return None
    return Usage(
        input_tokens=_first(_count(raw.get("input_tokens"))),
        output_tokens=_first(_count(raw.get("output_tokens"))),
        cache_read_tokens=_first(_count(_sub(raw, "input_tokens_details").get("cached_tokens"))),
        cache_write_tokens=0,
        reasoning_tokens=_first(_count(_sub(raw, "output_tokens_details").get("reasoning_tokens"))),
    )


def _nonempty(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _raise_body_error(data: Mapping[str, Any], *, provider: str, model: str, request_id: Optional[str]) -> None:
    err = data.get("error")
    if isinstance(err, str):
        exc = stream_error(err)
    elif isinstance(err, Mapping):
        message = err.get("message")
        raw_type = err.get("type")
        raw_code = err.get("code")
        code = str(raw_code) if isinstance(raw_code, (str, int)) and not isinstance(raw_code, bool) else None
        status = raw_code if isinstance(raw_code, int) and 100 <= raw_code <= 599 else None
        exc = stream_error(
            message if isinstance(message, str) else "unknown error",
            raw_type if isinstance(raw_type, str) else None,
            code,
            status,
        )
    else:
        return
    exc.provider, exc.model, exc.request_id = provider, model, request_id
    raise exc


def _chat_citations(data: Mapping[str, Any]) -> list[Citation]:
    # Perplexity-style fields, deduplicated by URL as the openai-chat dialect does.
    seen: set[str] = set()
    out: list[Citation] = []
    results = data.get("search_results")
    for item in _list(results):
        url = _nonempty(item.get("url")) if isinstance(item, Mapping) else None
        if url and url not in seen:
            seen.add(url)
            out.append(Citation(url, _nonempty(item.get("title"))))  # type: ignore[union-attr]
    urls = data.get("citations")
    for url in _list(urls):
        if isinstance(url, str) and url and url not in seen:
            seen.add(url)
            out.append(Citation(url, None))
    return out


_USER_AGENT = f"tokenwire/{__version__}"


@functools.lru_cache(maxsize=64)
def _url_host(url: str) -> Optional[str]:
    # Parsing a URL costs ~10 µs; streaming requests ask for the same base URL every time.
    try:
        return httpx.URL(url).host
    except (httpx.InvalidURL, TypeError):
        return None


class OpenAIProvider(Provider):
    """OpenAI's Chat Completions, Responses and Completions APIs, as Roo-Code drives them
    (see the module docstring for every rule).

    Args:
        api_key: sent as ``Authorization: Bearer`` (default: ``OPENAI_API_KEY``).
        base_url: API root including ``/v1`` (default: ``OPENAI_BASE_URL`` or
            ``https://api.openai.com/v1``).
        organization: ``OpenAI-Organization`` header (default: ``OPENAI_ORG_ID``, read
            when the provider is created, as the official SDK does).
        project: ``OpenAI-Project`` header (default: ``OPENAI_PROJECT_ID``, likewise).
        api: ``"auto"`` (Roo's rule), ``"chat"`` or ``"responses"`` for chat requests.
        reasoning_summary: ask the Responses API for reasoning summaries
            (``reasoning.summary = "auto"``) whenever a reasoning effort is sent (Roo's
            default: on).
        default_temperature: the temperature sent when the request sets none, for models
            that accept one (Roo: 0; GPT-5 models on the Responses API use 1.0).
            ``None`` sends no default.
        timeouts, headers, http_client, coalesce: as for :class:`Provider`.
    """

    name: ClassVar[str] = "openai"
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        streaming=True,
        tools=True,
        images=True,
        reasoning=True,
        prompt_cache=True,
        legacy_completions=True,
        list_models=True,
        count_tokens_endpoint=False,
    )
    api_key_env: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    base_url_env: ClassVar[tuple[str, ...]] = ("OPENAI_BASE_URL",)
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    organization_env: ClassVar[tuple[str, ...]] = ("OPENAI_ORG_ID",)
    project_env: ClassVar[tuple[str, ...]] = ("OPENAI_PROJECT_ID",)
    #: The body field for ``request.max_tokens`` in Chat Completions.
    max_tokens_field: ClassVar[str] = "max_completion_tokens"

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        organization: Optional[str] = None,
        project: Optional[str] = None,
        api: ApiMode = "auto",
        reasoning_summary: bool = True,
        default_temperature: Optional[float] = 0.0,
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeouts=timeouts,
            headers=headers,
            http_client=http_client,
            coalesce=coalesce,
        )
        # Read once, as the official SDK reads them: looking a missing variable up costs
        # ~1 us, on every request otherwise.
        self._organization = self._from_env(organization, self.organization_env)
        self._project = self._from_env(project, self.project_env)
        self.api: ApiMode = _api_mode(api, f"{self.name}: api")
        self.reasoning_summary = bool(reasoning_summary)
        self.default_temperature = default_temperature

    # -- configuration -----------------------------------------------------------------------
    @staticmethod
    def _from_env(arg: Optional[str], names: Sequence[str]) -> Optional[str]:
        if arg:
            return arg
        for name in names:
            value = os.environ.get(name)
            if value:
                return value
        return None

    @property
    def organization(self) -> Optional[str]:
        """The organization id (argument or ``OPENAI_ORG_ID``), if any."""
        return self._organization

    @property
    def project(self) -> Optional[str]:
        """The project id (argument or ``OPENAI_PROJECT_ID``), if any."""
        return self._project

    def _auth_headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.require_api_key()}"}
        organization = self.organization
        if organization:
            headers["OpenAI-Organization"] = organization
        project = self.project
        if project:
            headers["OpenAI-Project"] = project
        return headers

    def _headers(self, extra: Mapping[str, str], *, stream: bool, body: bool = True) -> dict[str, str]:
        base = self._auth_headers()
        base["User-Agent"] = _USER_AGENT
        base["Accept"] = "text/event-stream" if stream else "application/json"
        if body:
            base["Content-Type"] = "application/json"
        if not extra and not self.extra_headers:
            return base  # nothing to merge (and no name twice in ours)
        return merge_headers(base, self.extra_headers, extra)

    def _url(self, path: str, model: str) -> tuple[str, dict[str, str]]:
        """URL and query parameters for ``path`` (``/chat/completions`` …) and ``model``."""
        return f"{self.base_url}{path}", {}

    def _stream_usage(self) -> bool:
        # Roo leaves out stream_options for xAI hosts, which rejected it.
        host = _url_host(self.base_url)
        return host is None or "x.ai" not in host

    def resolve_api(self, request: Union[ChatRequest, CompletionRequest]) -> Literal["chat", "responses"]:
        """Which API a chat request goes to (``options["api"]``, the provider's ``api``, Roo's rule)."""
        raw = request.options.get("api")
        mode = self.api if raw is None else _api_mode(raw, f"{self.name}: request option 'api'")
        if mode == "auto":
            return "responses" if find_model(request.model) is not None else "chat"
        return mode

    # -- Chat Completions ----------------------------------------------------------------------
    def build_chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body of a Chat Completions request."""
        model_id = request.model
        found = find_model(model_id)
        info = found[1] if found else None
        o_family = is_o_family(model_id)
        body: dict[str, Any] = {"model": model_id}
        temperature_ok = not o_family and _temperature_allowed(model_id, info)
        if temperature_ok:
            temperature = request.temperature if request.temperature is not None else self.default_temperature
            if temperature is not None:
                body["temperature"] = temperature
        body["messages"] = chat_messages(request, developer=o_family)
        if stream:
            body["stream"] = True
            if self._stream_usage():
                body["stream_options"] = {"include_usage": True}
        effort = self._chat_effort(request, info, o_family=o_family)
        if effort is not None:
            body["reasoning_effort"] = effort
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        if request.top_p is not None and temperature_ok:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [chat_tool(t) for t in request.tools]
        tool_choice = chat_tool_choice(request.tool_choice)
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
        if request.response_format is not None:
            body["response_format"] = dict(request.response_format)
        if request.user:
            body["user"] = request.user
        return _apply_extra_body(body, request.extra_body)

    @staticmethod
    def _chat_effort(request: ChatRequest, info: Optional[OpenAIModel], *, o_family: bool) -> Optional[str]:
        if o_family:
            # openai.ts: the o1/o3/o4 path sends the configured (or the model's) effort as is.
            return request.reasoning_effort or (info.reasoning_effort if info else None)
        # getModelParams → getOpenAiReasoning: the request's effort when the model takes
        # one, else the model's default; "minimal" is never sent on this path.
        effort: Optional[str]
        if info is None or (info.supports_reasoning_effort and request.reasoning_effort):
            effort = request.reasoning_effort
        else:
            effort = info.reasoning_effort
        return None if effort == "minimal" else effort

    def _post_call(
        self,
        path: str,
        dialect: str,
        body: dict[str, Any],
        request: Union[ChatRequest, CompletionRequest],
        *,
        stream: bool,
    ) -> HttpCall:
        url, params = self._url(path, request.model)
        return HttpCall(
            method="POST",
            url=url,
            headers=self._headers(request.extra_headers, stream=stream),
            json=body,
            params=params,
            dialect=dialect if stream else None,
            model=request.model,
            timeout=request.timeout,
        )

    def _chat_call(
        self, body: dict[str, Any], request: Union[ChatRequest, CompletionRequest], *, stream: bool
    ) -> HttpCall:
        return self._post_call("/chat/completions", "openai-chat", body, request, stream=stream)

    # -- Responses -------------------------------------------------------------------------------
    def _responses_effort(
        self, request: Union[ChatRequest, CompletionRequest], info: Optional[OpenAIModel]
    ) -> Optional[str]:
        asked = request.reasoning_effort if isinstance(request, ChatRequest) else None
        effort = asked or (info.reasoning_effort if info else None)
        return effort if effort in _EFFORTS else None

    def _responses_common(
        self,
        request: Union[ChatRequest, CompletionRequest],
        body: dict[str, Any],
    ) -> None:
        """The model-dependent Responses fields (Roo's ``buildRequestBody``), added in Roo's order."""
        who = self.name
        options = request.options
        found = find_model(request.model)
        key, info = found if found else (request.model, None)
        effort = self._responses_effort(request, info)
        if effort is not None:
            reasoning: dict[str, Any] = {"effort": effort}
            summary = options.get("reasoning_summary")
            if summary is None:
                summary = self.reasoning_summary
            if isinstance(summary, str) and summary:
                reasoning["summary"] = summary
            elif summary is True:
                reasoning["summary"] = "auto"
            elif summary is not False:
                raise ConfigurationError(f"{who}: request option 'reasoning_summary' must be a bool or a string")
            body["reasoning"] = reasoning
        if _temperature_allowed(request.model, info):
            temperature = request.temperature
            if temperature is None and self.default_temperature is not None:
                gpt5 = request.model.startswith("gpt-5")
                temperature = _GPT5_DEFAULT_TEMPERATURE if gpt5 else self.default_temperature
            if temperature is not None:
                body["temperature"] = temperature
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        elif info is not None:
            body["max_output_tokens"] = _reserved_output(key, info)
        previous = _opt_str(options, "previous_response_id", who)
        if previous is not None:
            body["previous_response_id"] = previous
        tier = _opt_str(options, "service_tier", who)
        # Roo sends a tier only when it is "default" or one the model lists.
        if tier is not None and (tier == "default" or (info is not None and tier in info.tiers)):
            body["service_tier"] = tier
        if info is not None and info.supports_verbosity:
            verbosity = _opt_str(options, "verbosity", who, _VERBOSITY) or "medium"
            body["text"] = {"verbosity": verbosity}

    @staticmethod
    def _wire_model(model_id: str) -> str:
        # Roo's getModel: "o3-mini-high" / "o3-mini-low" are settings, not API ids.
        return "o3-mini" if model_id.startswith("o3-mini") else model_id

    def build_responses_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body of a Responses request."""
        who = self.name
        if request.stop:
            raise ConfigurationError(f"{who}: the Responses API has no stop sequences; use options={{'api': 'chat'}}")
        options = request.options
        store = _opt_bool(options, "store", who)
        continuation = options.get("previous_response_id") is not None
        body: dict[str, Any] = {
            "model": self._wire_model(request.model),
            "input": responses_input(request.messages, continuation=continuation),
            "stream": stream,
            "store": True if store is None else store,
        }
        system = request.system_prompt()
        if system:
            body["instructions"] = system
        self._responses_common(request, body)
        if request.top_p is not None and "temperature" in body:
            body["top_p"] = request.top_p
        if request.tools:
            body["tools"] = [responses_tool(t) for t in request.tools]
        tool_choice = responses_tool_choice(request.tool_choice)
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
        text_format = responses_text_format(request.response_format)
        if text_format is not None:
            body["text"] = {**body.get("text", {}), "format": text_format}
        include = _opt_str_list(options, "include", who)
        if include is not None:
            body["include"] = include
        if request.user:
            body["user"] = request.user
        return _apply_extra_body(body, request.extra_body)

    def _responses_call(
        self, body: dict[str, Any], request: Union[ChatRequest, CompletionRequest], *, stream: bool
    ) -> HttpCall:
        return self._post_call("/responses", "openai-responses", body, request, stream=stream)

    # -- hooks -------------------------------------------------------------------------------------
    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        if self.resolve_api(request) == "responses":
            return self._responses_call(self.build_responses_body(request, stream=stream), request, stream=stream)
        return self._chat_call(self.build_chat_body(request, stream=stream), request, stream=stream)

    def completion_api(self, request: CompletionRequest) -> Literal["completions", "chat", "responses"]:
        """Where a completion goes: ``/completions`` for the legacy models, else the chat API."""
        if is_legacy_completion_model(request.model):
            return "completions"
        return self.resolve_api(request)

    def build_completion_body(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        """The body of a completion: legacy ``/completions``, or Roo's ``completePrompt``
        shape for Chat Completions / Responses (see the module docstring)."""
        model_id = request.model
        api = self.completion_api(request)
        if api == "completions":
            body: dict[str, Any] = {"model": model_id, "prompt": request.prompt}
            if stream:
                body["stream"] = True
                body["stream_options"] = {"include_usage": True}
            if request.max_tokens is not None:
                body["max_tokens"] = request.max_tokens
            if request.temperature is not None:
                body["temperature"] = request.temperature
            if request.top_p is not None:
                body["top_p"] = request.top_p
            if request.stop:
                body["stop"] = list(request.stop)
            return _apply_extra_body(body, request.extra_body)
        if api == "responses":
            if request.stop:
                raise ConfigurationError(f"{self.name}: the Responses API has no stop sequences")
            store = _opt_bool(request.options, "store", self.name)
            body = {
                "model": self._wire_model(model_id),
                "input": [{"role": "user", "content": [{"type": "input_text", "text": request.prompt}]}],
                "stream": stream,
                # Roo's completePrompt does not store one-off completions.
                "store": False if store is None else store,
            }
            self._responses_common(request, body)
            if request.top_p is not None and "temperature" in body:
                body["top_p"] = request.top_p
            return _apply_extra_body(body, request.extra_body)
        body = {"model": model_id, "messages": [{"role": "user", "content": request.prompt}]}
        if stream:
            body["stream"] = True
            if self._stream_usage():
                body["stream_options"] = {"include_usage": True}
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        found = find_model(model_id)
        if _temperature_allowed(model_id, found[1] if found else None):
            if request.temperature is not None:
                body["temperature"] = request.temperature
            if request.top_p is not None:
                body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        return _apply_extra_body(body, request.extra_body)

    def build_completion_call(self, request: CompletionRequest, *, stream: bool) -> Optional[HttpCall]:
        body = self.build_completion_body(request, stream=stream)
        api = self.completion_api(request)
        if api == "completions":
            # Legacy completions chunks stream through the openai-chat dialect (choices[].text).
            return self._post_call("/completions", "openai-chat", body, request, stream=stream)
        if api == "responses":
            return self._responses_call(body, request, stream=stream)
        return self._chat_call(body, request, stream=stream)

    def build_models_call(self) -> Optional[HttpCall]:
        url, params = self._url("/models", "")
        return HttpCall(
            method="GET",
            url=url,
            headers=self._headers({}, stream=False, body=False),
            params=params,
        )

    # -- parsing -----------------------------------------------------------------------------------
    def _check_body(self, data: Any, *, model: str, request_id: Optional[str]) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise ProviderError(
                f"{self.name}: unexpected response body {type(data).__name__}",
                provider=self.name,
                model=model,
                request_id=request_id,
            )
        _raise_body_error(data, provider=self.name, model=model, request_id=request_id)
        return data

    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        body = self._check_body(data, model=model, request_id=request_id)
        if body.get("object") == "response":
            return self._parse_responses(body, model=model, request_id=request_id)
        choices = body.get("choices")
        choice: Mapping[str, Any] = {}
        for item in _list(choices):
            # Only the first choice is read (n > 1 is unsupported), as in the stream.
            if isinstance(item, Mapping) and item.get("index", 0) == 0:
                choice = item
                break
        message = _sub(choice, "message")
        reasoning = _nonempty(message.get("reasoning_content")) or _nonempty(message.get("reasoning")) or ""
        calls: list[ToolCall] = []
        raw_calls = message.get("tool_calls")
        for position, call in enumerate(_list(raw_calls)):
            if not isinstance(call, Mapping):
                continue
            fn = _sub(call, "function")
            arguments = fn.get("arguments")
            calls.append(
                ToolCall(
                    id=_nonempty(call.get("id")) or f"call_{position}",
                    name=_nonempty(fn.get("name")) or "",
                    arguments=arguments if isinstance(arguments, str) else "",
                )
            )
        return ChatResponse(
            text=_nonempty(message.get("content")) or "",
            model=model,
            provider=self.name,
            reasoning=reasoning,
            tool_calls=tuple(calls),
            usage=chat_body_usage(body),
            finish_reason=_nonempty(choice.get("finish_reason")),
            citations=tuple(_chat_citations(body)),
            request_id=request_id,
        )

    def _parse_responses(self, body: Mapping[str, Any], *, model: str, request_id: Optional[str]) -> ChatResponse:
        text: list[str] = []
        reasoning: list[str] = []
        calls: list[ToolCall] = []
        citations: list[Citation] = []
        output = body.get("output")
        for item in _list(output):
            if not isinstance(item, Mapping):
                continue
            kind = item.get("type")
            if kind == "message":
                parts = item.get("content")
                for part in _list(parts):
                    if not isinstance(part, Mapping) or part.get("type") != "output_text":
                        continue
                    text.append(_nonempty(part.get("text")) or "")
                    notes = part.get("annotations")
                    for note in _list(notes):
                        if isinstance(note, Mapping) and note.get("type") == "url_citation":
                            url = _nonempty(note.get("url"))
                            if url:
                                citations.append(Citation(url, _nonempty(note.get("title"))))
            elif kind == "reasoning":
                for key, part_type in (("summary", "summary_text"), ("content", "reasoning_text")):
                    parts = item.get(key)
                    for part in _list(parts):
                        if isinstance(part, Mapping) and part.get("type") == part_type:
                            reasoning.append(_nonempty(part.get("text")) or "")
            elif kind == "function_call":
                arguments = item.get("arguments")
                calls.append(
                    ToolCall(
                        id=_nonempty(item.get("call_id")) or f"call_{len(calls)}",
                        name=_nonempty(item.get("name")) or "",
                        arguments=arguments if isinstance(arguments, str) else "",
                    )
                )
        finish = _nonempty(_sub(body, "incomplete_details").get("reason")) or _nonempty(body.get("status"))
        return ChatResponse(
            text="".join(text),
            model=model,
            provider=self.name,
            reasoning="".join(reasoning),
            tool_calls=tuple(calls),
            usage=_responses_usage(body.get("usage")),
            finish_reason=finish,
            citations=tuple(citations),
            request_id=request_id,
        )

    def parse_completion_response(self, data: Any, *, model: str, request_id: Optional[str]) -> CompletionResponse:
        body = self._check_body(data, model=model, request_id=request_id)
        if body.get("object") == "text_completion":
            choices = body.get("choices")
            choice = next(
                (c for c in (_list(choices)) if isinstance(c, Mapping)),
                {},
            )
            return CompletionResponse(
                text=_nonempty(choice.get("text")) or "",
                model=model,
                provider=self.name,
                usage=chat_body_usage(body),
                finish_reason=_nonempty(choice.get("finish_reason")),
                request_id=request_id,
            )
        answer = self.parse_chat_response(body, model=model, request_id=request_id)
        return CompletionResponse.from_chat(answer)

    def parse_models(self, data: Any) -> list[ModelInfo]:
        items = data.get("data") if isinstance(data, Mapping) else None
        out: list[ModelInfo] = []
        seen: set[str] = set()
        for item in _list(items):
            model_id = _nonempty(item.get("id")) if isinstance(item, Mapping) else None
            if model_id is None or model_id in seen:
                continue
            seen.add(model_id)
            out.append(self._model_info(model_id))
        return out

    def _model_info(self, model_id: str) -> ModelInfo:
        found = find_model(model_id)
        if found is None:
            return ModelInfo(id=model_id, provider=self.name)
        _, info = found
        return ModelInfo(
            id=model_id,
            provider=self.name,
            context_window=info.context_window,
            max_output_tokens=info.max_tokens,
            supports_images=info.supports_images,
            supports_prompt_cache=info.supports_prompt_cache,
            supports_reasoning=info.supports_reasoning,
            input_price=info.input_price,
            output_price=info.output_price,
            cache_read_price=info.cache_read_price,
        )


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI deployments (and Azure AI Inference endpoints), as Roo's OpenAI
    Compatible handler reaches them. Chat Completions and legacy Completions only.

    Args:
        api_key: sent as ``api-key`` (default: ``AZURE_OPENAI_API_KEY``).
        endpoint: the resource endpoint, e.g. ``https://my-resource.openai.azure.com``
            (default: ``AZURE_OPENAI_ENDPOINT``). ``base_url`` is accepted as a synonym.
            A URL that already ends in ``/openai`` or contains ``/openai/deployments/…``
            is used as given.
        deployment: the deployment name (default: the request's model id).
        api_version: the ``api-version`` query parameter (default: ``OPENAI_API_VERSION``,
            else ``2024-08-01-preview``; ``2024-05-01-preview`` for Azure AI Inference).
        default_temperature, timeouts, headers, http_client, coalesce: as for
            :class:`OpenAIProvider`.
    """

    name: ClassVar[str] = "azure-openai"
    api_key_env: ClassVar[tuple[str, ...]] = ("AZURE_OPENAI_API_KEY",)
    base_url_env: ClassVar[tuple[str, ...]] = ("AZURE_OPENAI_ENDPOINT",)
    default_base_url: ClassVar[str] = ""
    api_version_env: ClassVar[tuple[str, ...]] = ("OPENAI_API_VERSION",)

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        endpoint: Optional[str] = None,
        base_url: Optional[str] = None,
        deployment: Optional[str] = None,
        api_version: Optional[str] = None,
        default_temperature: Optional[float] = 0.0,
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        if endpoint and base_url and endpoint != base_url:
            raise ConfigurationError("azure-openai: pass either endpoint or base_url, not both")
        super().__init__(
            api_key=api_key,
            base_url=endpoint or base_url,
            api="chat",
            default_temperature=default_temperature,
            timeouts=timeouts,
            headers=headers,
            http_client=http_client,
            coalesce=coalesce,
        )
        self.deployment = deployment
        self._api_version_arg = api_version

    @property
    def endpoint(self) -> str:
        """The configured endpoint (``""`` when unset)."""
        return self.base_url

    @property
    def is_ai_inference(self) -> bool:
        """Whether the endpoint is an Azure AI Inference one (``*.services.ai.azure.com``)."""
        try:
            host = httpx.URL(self.endpoint).host
        except (httpx.InvalidURL, TypeError):
            return False
        return host.endswith(".services.ai.azure.com")

    @property
    def api_version(self) -> str:
        """The ``api-version`` sent with every call."""
        explicit = self._from_env(self._api_version_arg, self.api_version_env)
        if explicit:
            return explicit
        return AZURE_AI_INFERENCE_API_VERSION if self.is_ai_inference else AZURE_OPENAI_API_VERSION

    def _require_endpoint(self) -> str:
        endpoint = self.endpoint
        if not endpoint:
            raise ConfigurationError(
                f"{self.name}: no endpoint; pass endpoint=... or set {' / '.join(self.base_url_env)}"
            )
        return endpoint

    def _auth_headers(self) -> dict[str, str]:
        if self.is_ai_inference:
            return {"Authorization": f"Bearer {self.require_api_key()}"}
        return {"api-key": self.require_api_key()}

    def _url(self, path: str, model: str) -> tuple[str, dict[str, str]]:
        endpoint = self._require_endpoint()
        params = {"api-version": self.api_version}
        if self.is_ai_inference:
            # Roo sends Azure AI Inference chat to {base}/models/chat/completions.
            return f"{endpoint}/models{path}", params
        root = endpoint if endpoint.endswith("/openai") or "/openai/" in endpoint else f"{endpoint}/openai"
        if path in ("/chat/completions", "/completions") and "/deployments/" not in root:
            deployment = self.deployment or model
            if not deployment:
                raise ConfigurationError(f"{self.name}: no deployment; pass deployment=... or a model id")
            return f"{root}/deployments/{deployment}{path}", params
        if path == "/models" and "/deployments/" in root:
            root = root.split("/deployments/", 1)[0]
        return f"{root}{path}", params

    def _stream_usage(self) -> bool:
        return True

    def resolve_api(self, request: Union[ChatRequest, CompletionRequest]) -> Literal["chat", "responses"]:
        raw = request.options.get("api")
        if raw is not None and _api_mode(raw, f"{self.name}: request option 'api'") == "responses":
            raise ConfigurationError(f"{self.name}: only Chat Completions is supported (not the Responses API)")
        return "chat"
