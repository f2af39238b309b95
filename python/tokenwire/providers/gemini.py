"""Google Gemini API adapter (``"gemini"``).

The wire behaviour reproduces Roo-Code's Gemini handler (RooCodeInc/Roo-Code at
``9bcd9918``: ``src/api/providers/gemini.ts``, ``src/api/transform/gemini-format.ts``,
``src/api/transform/model-params.ts``, ``src/api/transform/reasoning.ts``,
``src/shared/api.ts``, ``packages/types/src/providers/gemini.ts``), in our own code. Roo
drives the ``@google/genai`` SDK; what is reproduced is what that SDK puts on the wire.
The request building and response parsing here are shared with the Vertex AI adapter
(:mod:`tokenwire.providers.vertex`).

Authentication and URLs
    ``x-goog-api-key: <key>`` with the key from ``api_key=``, ``GEMINI_API_KEY`` or
    ``GOOGLE_API_KEY`` (in that order; note that the official ``google-genai`` SDK
    prefers ``GOOGLE_API_KEY`` when both are set). The key is never put in the URL. The
    base URL is ``base_url=``, else ``GOOGLE_GEMINI_BASE_URL`` (the variable the official
    SDKs read), else ``GEMINI_BASE_URL``, else ``https://generativelanguage.googleapis.com``;
    calls go to ``{base}/{api_version}/models/{model}:generateContent``,
    ``:streamGenerateContent?alt=sse`` and ``:countTokens`` (``api_version`` ``v1beta`` by
    default), and ``GET {base}/{api_version}/models``. A model id may carry its resource
    prefix (``models/…``, ``tunedModels/…``). Requests with a body carry
    ``content-type: application/json``.

Parameters (Roo's ``getModelParams`` for the ``gemini`` format)
    - ``":thinking"`` model ids (Roo's hybrid reasoning entries) are sent without the
      suffix and always think.
    - Thinking is used for models that require it and, when the request asks for it
      (``thinking_budget`` or ``options["thinking"] = True``), for models with a
      reasoning budget; models not in Roo's table are trusted to support one. It is
      sent as ``generationConfig.thinkingConfig = {"thinkingBudget": b,
      "includeThoughts": true}``.
    - Budget ``b``: the request's ``thinking_budget``, else 8192 (128 for
      ``gemini-2.5-pro*``), capped at ``floor(0.8 * maxOutputTokens)`` and raised to at
      least 1024 (128 for ``gemini-2.5-pro*``). Beyond Roo, an explicit budget ≤ 0 is
      sent as given (0 turns thinking off where the model allows it, -1 asks for
      dynamic thinking) and ``includeThoughts`` is then false for 0.
    - ``maxOutputTokens``: the request's ``max_tokens``; else 16384 when thinking; else
      the model's max output capped at 20% of its context window (Roo's rule); not
      sent for unknown models.
    - ``temperature``: the request's, else 0 (Roo's default, also with thinking —
      Roo's Gemini handler does not take getModelParams' 1.0). ``default_temperature=``
      changes it; ``None`` omits it.
    - ``reasoning_effort`` is ignored (Gemini takes budgets), as ``user`` is.

Request body (``@google/genai``'s wire form of what Roo passes)
    ``contents``: one entry per message with ``role`` ``user`` or ``model`` (assistant);
    ``tool`` messages are ``user`` turns. Consecutive messages with the same role are
    merged into one entry (Gemini wants every function response of a turn in one
    content). Messages without parts are skipped. Parts: ``{"text"}``; base64 images
    ``{"inlineData": {"mimeType", "data"}}``; image URLs ``{"fileData": {"mimeType",
    "fileUri"}}`` (the API accepts its Files-API and ``gs://`` URIs; Roo rejects URLs);
    assistant tool calls ``{"functionCall": {"name", "args"}}`` (the parsed arguments);
    tool results ``{"functionResponse": {"name", "response": {"name", "content"}}}`` with
    the text parts joined by blank lines (Roo's shape), followed by any images as
    ``inlineData`` parts (``"\\n\\n(See next part for image)"`` is then appended to the
    text, as Roo does). The function name is the tool message's ``name``, else the name
    of the assistant tool call with that id, else Roo's fallback (the id up to its first
    ``-``). Unlike Roo, an empty tool result still sends its response (Gemini needs one
    per call). ``is_error`` has no Gemini field and is not sent.
    ``systemInstruction``: ``{"role": "user", "parts": [{"text": system}]}`` (the SDK's
    form of Roo's string), absent without a system prompt.
    ``tools``: ``[{"functionDeclarations": [{name, description, parameters}]}]``
    (``description`` only when non-empty; ``parameters`` as given, left out for an
    object schema without properties, which Gemini rejects), then ``{"urlContext": {}}``
    and ``{"googleSearch": {}}`` when URL context / grounding are on (Roo's
    ``enableUrlContext`` / ``enableGrounding``).
    ``toolConfig.functionCallingConfig``: ``tool_choice`` ``"auto"`` → ``AUTO``,
    ``"required"``/``"any"`` → ``ANY``, ``"none"`` → ``NONE``, a tool name (or OpenAI's
    ``{"type": "function", "function": {"name"}}``) → ``ANY`` with
    ``allowedFunctionNames``; a mapping with ``functionCallingConfig`` is sent as given.
    ``generationConfig``: ``temperature``, ``topP``, ``topK``, ``maxOutputTokens``,
    ``stopSequences`` (from ``stop``), ``thinkingConfig``, and for ``response_format``
    ``{"type": "json_object"}`` → ``responseMimeType: "application/json"``,
    ``{"type": "json_schema", "json_schema": {"schema": S}}`` → that plus
    ``responseSchema: S`` (``{"type": "text"}`` sends nothing).

``request.options`` keys
    - ``thinking`` (bool): ask for thinking with Roo's default budget (``False`` turns it
      off except for models that require it);
    - ``include_thoughts`` (bool, default true): ``thinkingConfig.includeThoughts``;
    - ``top_k`` (int) → ``generationConfig.topK``;
    - ``grounding`` / ``url_context`` (bool): add the Google Search / URL context tools
      (override the provider's settings);
    - ``safety_settings`` (list of ``{"category", "threshold"}``) → ``safetySettings``
      (overrides the provider's);
    - ``generation_config`` (mapping): merged into ``generationConfig`` last;
    - ``cached_content`` (str): ``cachedContent`` (a context-cache resource name);
    - ``raise_on_block`` (bool): see *Safety blocks*.
    Other keys are ignored. ``extra_body`` is merged into the body last; a ``None``
    value removes a field.

Responses and streams
    Streams use the native ``gemini`` dialect: text parts → ``TextDelta``, ``thought``
    parts → ``ReasoningDelta``, ``functionCall`` parts (whole ``args`` or Gemini 3's
    streamed ``partialArgs``) → ``ToolCallDelta``, the last ``usageMetadata`` → one
    ``Usage`` (prompt, candidates, cached content → cache read, thoughts → reasoning),
    ``finishReason`` → ``Finish``, ``groundingMetadata`` chunks → ``Citation(uri,
    title or uri)`` at the end (Roo's rule). Only the first candidate is read. A
    non-streaming ``generateContent`` answer is parsed by the same rules.

Safety blocks
    A blocked prompt (``promptFeedback.blockReason`` without candidates) or answer
    (``finishReason`` in :data:`BLOCK_REASONS`: ``SAFETY``, ``RECITATION``,
    ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``, ``IMAGE_SAFETY``,
    ``IMAGE_PROHIBITED_CONTENT``, ``IMAGE_RECITATION``) raises
    :class:`SafetyBlockedError` (a :class:`~tokenwire.errors.BadRequestError`) whose
    ``error_type`` (and ``reason``) is the block reason and whose ``usage`` is the
    usage Gemini reported. In a stream the tokens before the block are delivered first;
    the stream is then read to its end (to collect the usage) and the error replaces
    the ``Finish``. ``OTHER`` is not treated as a block: as a finish reason it is
    ambiguous, and a stream cannot tell a prompt block from a candidate's finish. With
    ``raise_on_block=False`` (provider or ``options``) the reason is just the
    ``Finish`` reason.

Errors
    HTTP errors use Google's shape (``{"error": {"code", "message", "status",
    "details"}}``): the status picks the class (an invalid key is Gemini's ``400
    INVALID_ARGUMENT`` with reason ``API_KEY_INVALID`` → ``BadRequestError``; no key is
    ``403 PERMISSION_DENIED``), ``UNAVAILABLE`` 503s are
    :class:`~tokenwire.errors.OverloadedError`, and a 429's ``RetryInfo.retryDelay``
    becomes ``retry_after``. Gemini sends no request-id header, so ``request_id`` stays
    ``None``. An error object inside a stream raises the matching class after the
    tokens before it.

Models and tokens
    :meth:`GeminiProvider.list_models` pages ``GET /models?pageSize=1000``
    (:attr:`GeminiProvider.models_page_size`) through ``nextPageToken``.
    :meth:`GeminiProvider.count_tokens` asks ``:countTokens`` with
    ``{"contents"}`` (Roo's form), or ``{"generateContentRequest": {...}}`` when the
    request also has a system prompt or tools, so they are counted too; as in Roo, a
    failure falls back to the local estimate.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, Optional, Union

import httpx

from tokenwire._http import Timeouts, request_id_from
from tokenwire.errors import (
    APIConnectionError,
    BadRequestError,
    ConfigurationError,
    ProviderError,
    TokenwireError,
    stream_error,
)
from tokenwire.providers.base import ChatStream, HttpCall, Provider, _json_or_error, merge_headers
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    Citation,
    CompletionRequest,
    ContentPart,
    ImagePart,
    Message,
    ModelInfo,
    ProviderCapabilities,
    StreamToken,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)

__all__ = [
    "BLOCK_REASONS",
    "DEFAULT_THINKING_BUDGET",
    "DEFAULT_THINKING_MAX_TOKENS",
    "GEMINI_API_VERSION",
    "GEMINI_MODELS",
    "GeminiChatStream",
    "GeminiModel",
    "GeminiParams",
    "GeminiProvider",
    "SafetyBlockedError",
    "build_generate_content_body",
    "convert_contents",
    "convert_tool_choice",
    "function_declaration",
    "gemini_params",
    "parse_generate_content",
]

_log = logging.getLogger("tokenwire.providers.gemini")

GEMINI_API_VERSION = "v1beta"
#: Roo: src/shared/api.ts (DEFAULT_HYBRID_REASONING_MODEL_MAX_TOKENS / _THINKING_TOKENS).
DEFAULT_THINKING_MAX_TOKENS = 16_384
DEFAULT_THINKING_BUDGET = 8_192
#: Roo: model-params.ts — the budget floor outside Gemini 2.5 Pro, and 2.5 Pro's default/floor.
MIN_THINKING_BUDGET = 1024
GEMINI_25_PRO_MIN_THINKING_BUDGET = 128
_THINKING_SUFFIX = ":thinking"
_MAX_MODEL_PAGES = 100

#: Finish / block reasons that mean Gemini refused to answer (see the module docs).
BLOCK_REASONS: frozenset[str] = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


@dataclass(frozen=True)
class GeminiModel:
    """Facts about one Gemini model from Roo-Code's table
    (``packages/types/src/providers/gemini.ts``); only what request building needs."""

    max_tokens: int
    context_window: int
    supports_images: bool = True
    supports_prompt_cache: bool = False
    supports_reasoning_budget: bool = False
    requires_reasoning_budget: bool = False
    max_thinking_tokens: Optional[int] = None


_M = GeminiModel
#: Roo-Code's Gemini model table at the reference commit (ids as Roo lists them).
GEMINI_MODELS: Mapping[str, GeminiModel] = {
    "gemini-2.5-flash-preview-04-17:thinking": _M(65_535, 1_048_576, True, False, True, True, 24_576),
    "gemini-2.5-flash-preview-04-17": _M(65_535, 1_048_576),
    "gemini-2.5-flash-preview-05-20:thinking": _M(65_535, 1_048_576, True, True, True, True, 24_576),
    "gemini-2.5-flash-preview-05-20": _M(65_535, 1_048_576, True, True),
    "gemini-2.5-flash": _M(64_000, 1_048_576, True, True, True, False, 24_576),
    "gemini-2.5-pro-exp-03-25": _M(65_535, 1_048_576),
    "gemini-2.5-pro-preview-03-25": _M(65_535, 1_048_576, True, True),
    "gemini-2.5-pro-preview-05-06": _M(65_535, 1_048_576, True, True),
    "gemini-2.5-pro-preview-06-05": _M(65_535, 1_048_576, True, True, True, False, 32_768),
    "gemini-2.5-pro": _M(64_000, 1_048_576, True, True, True, True, 32_768),
    "gemini-2.0-flash-001": _M(8192, 1_048_576, True, True),
    "gemini-2.0-flash-lite-preview-02-05": _M(8192, 1_048_576),
    "gemini-2.0-pro-exp-02-05": _M(8192, 2_097_152),
    "gemini-2.0-flash-thinking-exp-01-21": _M(65_536, 1_048_576),
    "gemini-2.0-flash-thinking-exp-1219": _M(8192, 32_767),
    "gemini-2.0-flash-exp": _M(8192, 1_048_576),
    "gemini-1.5-flash-002": _M(8192, 1_048_576, True, True),
    "gemini-1.5-flash-exp-0827": _M(8192, 1_048_576),
    "gemini-1.5-flash-8b-exp-0827": _M(8192, 1_048_576),
    "gemini-1.5-pro-002": _M(8192, 2_097_152),
    "gemini-1.5-pro-exp-0827": _M(8192, 2_097_152),
    "gemini-exp-1206": _M(8192, 2_097_152),
    "gemini-2.5-flash-lite-preview-06-17": _M(64_000, 1_048_576, True, True, True, False, 24_576),
}


class SafetyBlockedError(BadRequestError):
    """Gemini blocked the prompt or the answer (``promptFeedback.blockReason`` or a
    blocking ``finishReason``). ``reason`` (= ``error_type``) is the block reason;
    ``usage`` the usage Gemini reported for the request, if any. ``status`` is ``None``:
    the HTTP exchange itself succeeded."""

    def __init__(self, message: str = "", *, usage: Optional[Usage] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.usage = usage

    @property
    def reason(self) -> Optional[str]:
        """The block reason (``"SAFETY"``, ``"PROHIBITED_CONTENT"``, …)."""
        return self.error_type

    def __reduce__(self) -> Any:
        rebuild, (cls, message, kwargs) = super().__reduce__()
        return rebuild, (cls, message, {**kwargs, "usage": self.usage})


# -- options ------------------------------------------------------------------------------
def _option_bool(options: Mapping[str, Any], key: str, who: str) -> Optional[bool]:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ConfigurationError(f"{who}: request option {key!r} must be a bool, got {type(value).__name__}")
    return value


def _option_int(options: Mapping[str, Any], key: str, who: str) -> Optional[int]:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{who}: request option {key!r} must be an int, got {type(value).__name__}")
    return value


def _safety_settings(value: Any, where: str) -> Optional[list[dict[str, Any]]]:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigurationError(f"{where} must be a list of mappings")
    out: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise ConfigurationError(f"{where} must be a list of mappings")
        out.append(dict(item))
    return out


# -- parameters ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GeminiParams:
    """What Roo's ``getModelParams`` decides for one Gemini request."""

    wire_model: str
    max_output_tokens: Optional[int]
    temperature: Optional[float]
    thinking_budget: Optional[int]
    include_thoughts: bool


def gemini_params(
    request: ChatRequest,
    models: Mapping[str, GeminiModel] = GEMINI_MODELS,
    *,
    default_temperature: Optional[float] = 0.0,
    who: str = "gemini",
) -> GeminiParams:
    """The model parameters for ``request`` (see the module docstring)."""
    model_id = request.model
    wire_model = model_id[: -len(_THINKING_SUFFIX)] if model_id.endswith(_THINKING_SUFFIX) else model_id
    info = models.get(model_id)
    options = request.options
    thinking_option = _option_bool(options, "thinking", who)
    asked = thinking_option if thinking_option is not None else request.thinking_budget is not None
    use_budget = asked if info is None else info.requires_reasoning_budget or (info.supports_reasoning_budget and asked)

    budget: Optional[int] = None
    if use_budget:
        max_output: Optional[int] = (
            request.max_tokens if request.max_tokens is not None else DEFAULT_THINKING_MAX_TOKENS
        )
        pro_25 = "gemini-2.5-pro" in model_id
        explicit = request.thinking_budget
        if explicit is not None and explicit <= 0:
            budget = explicit  # 0: off, -1: dynamic — not Roo's clamp (see the docs)
        else:
            budget = (
                explicit
                if explicit is not None
                else (GEMINI_25_PRO_MIN_THINKING_BUDGET if pro_25 else DEFAULT_THINKING_BUDGET)
            )
            if max_output:
                budget = min(budget, math.floor(max_output * 0.8))
            budget = max(budget, GEMINI_25_PRO_MIN_THINKING_BUDGET if pro_25 else MIN_THINKING_BUDGET)
    elif request.max_tokens is not None:
        max_output = request.max_tokens
    elif info is not None:
        max_output = min(info.max_tokens, math.ceil(info.context_window * 0.2))
    else:
        max_output = None
    temperature = request.temperature if request.temperature is not None else default_temperature
    include = _option_bool(options, "include_thoughts", who)
    include_thoughts = include if include is not None else budget != 0
    return GeminiParams(wire_model, max_output, temperature, budget, include_thoughts)


# -- request building ---------------------------------------------------------------------
def _image_part(part: ImagePart) -> dict[str, Any]:
    if part.url is not None:
        return {"fileData": {"mimeType": part.media_type, "fileUri": part.url}}
    return {"inlineData": {"mimeType": part.media_type, "data": part.data}}


def _content_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    return _image_part(part)


def _tool_response_parts(message: Message, name: str) -> list[dict[str, Any]]:
    # Roo's shape: text parts joined by blank lines; images follow as their own parts.
    if isinstance(message.content, str):
        texts = [message.content] if message.content else []
        images: list[dict[str, Any]] = []
    else:
        texts = [p.text for p in message.content if isinstance(p, TextPart)]
        images = [_image_part(p) for p in message.content if isinstance(p, ImagePart)]
    text = "\n\n".join(texts) + ("\n\n(See next part for image)" if images else "")
    return [{"functionResponse": {"name": name, "response": {"name": name, "content": text}}}, *images]


def _parsed_args(call: ToolCall) -> Any:
    try:
        return call.parsed_arguments()
    except ValueError as exc:
        raise ValueError(f"tool call {call.id!r} ({call.name}) has arguments that are not JSON: {exc}") from None


def convert_contents(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages (system messages are skipped) as Gemini ``contents`` (see the module docs)."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        if message.role == "tool":
            call_id = message.tool_call_id or ""
            name = message.name or names.get(call_id) or call_id.split("-")[0]
            parts = _tool_response_parts(message, name)
        else:
            parts = [_content_part(p) for p in message.parts]
            for call in message.tool_calls:
                names[call.id] = call.name
                parts.append({"functionCall": {"name": call.name, "args": _parsed_args(call)}})
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def function_declaration(tool: Tool) -> dict[str, Any]:
    """A tool as a Gemini function declaration (see the module docs)."""
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    params = tool.parameters
    empty_object = params.get("type", "object") == "object" and not params.get("properties")
    if not empty_object or set(params) - {"type", "properties", "required", "additionalProperties", "$schema"}:
        out["parameters"] = dict(params)
    return out


def convert_tool_choice(choice: Union[str, Mapping[str, Any], None], who: str = "gemini") -> Optional[dict[str, Any]]:
    """``tool_choice`` as a Gemini ``toolConfig`` (see the module docs)."""
    if choice is None:
        return None
    if isinstance(choice, str):
        modes = {"auto": "AUTO", "required": "ANY", "any": "ANY", "none": "NONE"}
        if choice in modes:
            return {"functionCallingConfig": {"mode": modes[choice]}}
        if not choice:
            raise ConfigurationError(f"{who}: tool_choice must not be empty")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice]}}
    if "functionCallingConfig" in choice:
        return dict(choice)
    if choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if isinstance(name, str) and name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise ConfigurationError(f"{who}: unsupported tool_choice {choice!r}")


def _response_format(config: dict[str, Any], response_format: Optional[Mapping[str, Any]], who: str) -> None:
    if response_format is None:
        return
    kind = response_format.get("type")
    if kind == "text":
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        config["responseMimeType"] = "application/json"
        if isinstance(schema, Mapping):
            config["responseSchema"] = dict(schema)
        return
    raise ConfigurationError(f"{who}: unsupported response_format {response_format!r}")


def build_generate_content_body(
    request: ChatRequest,
    params: GeminiParams,
    *,
    grounding: bool = False,
    url_context: bool = False,
    safety_settings: Optional[Sequence[Mapping[str, Any]]] = None,
    who: str = "gemini",
) -> dict[str, Any]:
    """The ``generateContent`` body for ``request`` (streaming uses the same body)."""
    options = request.options
    contents = convert_contents(request.conversation())
    if not contents:
        raise ConfigurationError(f"{who}: the request has no message content to send")
    body: dict[str, Any] = {"contents": contents}
    system = request.system_prompt()
    if system:
        body["systemInstruction"] = {"role": "user", "parts": [{"text": system}]}
    tools: list[dict[str, Any]] = []
    if request.tools:
        tools.append({"functionDeclarations": [function_declaration(t) for t in request.tools]})
    url_option = _option_bool(options, "url_context", who)
    if url_option if url_option is not None else url_context:
        tools.append({"urlContext": {}})
    grounding_option = _option_bool(options, "grounding", who)
    if grounding_option if grounding_option is not None else grounding:
        tools.append({"googleSearch": {}})
    if tools:
        body["tools"] = tools
    tool_config = convert_tool_choice(request.tool_choice, who)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    settings = _safety_settings(options.get("safety_settings"), f"{who}: request option 'safety_settings'")
    if settings is None and safety_settings:
        settings = [dict(s) for s in safety_settings]
    if settings:
        body["safetySettings"] = settings

    config: dict[str, Any] = {}
    if params.temperature is not None:
        config["temperature"] = params.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    top_k = _option_int(options, "top_k", who)
    if top_k is not None:
        config["topK"] = top_k
    if params.max_output_tokens is not None:
        config["maxOutputTokens"] = params.max_output_tokens
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if params.thinking_budget is not None:
        config["thinkingConfig"] = {
            "thinkingBudget": params.thinking_budget,
            "includeThoughts": params.include_thoughts,
        }
    _response_format(config, request.response_format, who)
    extra_config = options.get("generation_config")
    if extra_config is not None:
        if not isinstance(extra_config, Mapping):
            raise ConfigurationError(f"{who}: request option 'generation_config' must be a mapping")
        config.update(extra_config)
    if config:
        body["generationConfig"] = config
    cached = options.get("cached_content")
    if cached is not None:
        if not isinstance(cached, str) or not cached:
            raise ConfigurationError(f"{who}: request option 'cached_content' must be a non-empty string")
        body["cachedContent"] = cached
    for key, value in request.extra_body.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# -- response parsing ---------------------------------------------------------------------
def _count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def usage_from_metadata(raw: Any) -> Optional[Usage]:
    """``usageMetadata`` → :class:`Usage` (``None`` when it reports none of the counts)."""
    if not isinstance(raw, Mapping):
        return None
    names = ("promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount")
    counts = [_count(raw.get(name)) for name in names]
    if all(c is None for c in counts):
        return None
    prompt, candidates, cached, thoughts = (c or 0 for c in counts)
    return Usage(prompt, candidates, cache_read_tokens=cached, cache_write_tokens=0, reasoning_tokens=thoughts)


def grounding_citations(grounding: Any) -> list[Citation]:
    """Roo's rule: every ``groundingChunks[].web`` with a ``uri``, titled by its title or the uri."""
    chunks = grounding.get("groundingChunks") if isinstance(grounding, Mapping) else None
    out: list[Citation] = []
    for chunk in chunks if isinstance(chunks, list) else ():
        web = chunk.get("web") if isinstance(chunk, Mapping) else None
        uri = _text(web.get("uri")) if isinstance(web, Mapping) else None
        if uri is not None:
            out.append(Citation(uri, _text(web.get("title")) or uri))  # type: ignore[union-attr]
    return out


def _blocked(
    reason: str,
    *,
    prompt: Optional[bool],
    detail: Optional[str],
    provider: str,
    model: Optional[str],
    usage: Optional[Usage],
    request_id: Optional[str] = None,
    body: Any = None,
) -> SafetyBlockedError:
    if prompt is True:
        message = f"the prompt was blocked (blockReason {reason})"
    elif prompt is False:
        message = f"the response was blocked (finishReason {reason})"
    else:
        message = f"the request was blocked ({reason})"
    if detail:
        message = f"{message}: {detail}"
    return SafetyBlockedError(
        message,
        provider=provider,
        model=model,
        request_id=request_id,
        error_type=reason,
        code=reason,
        usage=usage,
        body=body,
    )


def raise_error_body(data: Mapping[str, Any], *, provider: str, model: str, request_id: Optional[str]) -> None:
    """A 200 whose body is Google's error object: raise it like the stream would."""
    err = data.get("error")
    if not isinstance(err, Mapping):
        return
    message = _text(err.get("message")) or "unknown error"
    code = err.get("code")
    status = code if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 else None
    error = stream_error(
        message,
        err.get("status") if isinstance(err.get("status"), str) else None,
        str(code) if isinstance(code, int) and not isinstance(code, bool) else None,
        status,
    )
    error.provider, error.model, error.request_id, error.body = provider, model, request_id, dict(data)
    raise error


def parse_generate_content(
    data: Any,
    *,
    provider: str,
    model: str,
    request_id: Optional[str],
    raise_on_block: bool = True,
) -> ChatResponse:
    """A ``generateContent`` response body → :class:`ChatResponse` (the stream's rules)."""
    if not isinstance(data, Mapping):
        raise ProviderError(
            f"{provider}: unexpected response body {type(data).__name__}",
            provider=provider,
            model=model,
            request_id=request_id,
        )
    raise_error_body(data, provider=provider, model=model, request_id=request_id)
    usage = usage_from_metadata(data.get("usageMetadata"))
    candidates = data.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates else None
    finish: Optional[str] = None
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    citations: list[Citation] = []
    if isinstance(candidate, Mapping):
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, Mapping):
                continue
            value = _text(part.get("text"))
            if value is not None:
                (reasoning if part.get("thought") is True else text).append(value)
            call = part.get("functionCall")
            if isinstance(call, Mapping) and _text(call.get("name")):
                arguments = (
                    json.dumps(call["args"], ensure_ascii=False, separators=(",", ":")) if "args" in call else "{}"
                )
                call_id = _text(call.get("id")) or f"call_{len(calls)}"
                calls.append(ToolCall(id=call_id, name=call["name"], arguments=arguments))
        finish = _text(candidate.get("finishReason"))
        citations = grounding_citations(candidate.get("groundingMetadata"))
        if raise_on_block and finish in BLOCK_REASONS:
            raise _blocked(
                finish,
                prompt=False,
                detail=_text(candidate.get("finishMessage")),
                provider=provider,
                model=model,
                usage=usage,
                request_id=request_id,
                body=dict(data),
            )
    else:
        feedback = data.get("promptFeedback")
        reason = _text(feedback.get("blockReason")) if isinstance(feedback, Mapping) else None
        if reason is not None:
            if raise_on_block:
                raise _blocked(
                    reason,
                    prompt=True,
                    detail=_text(feedback.get("blockReasonMessage")),  # type: ignore[union-attr]
                    provider=provider,
                    model=model,
                    usage=usage,
                    request_id=request_id,
                    body=dict(data),
                )
            finish = reason
    return ChatResponse(
        text="".join(text),
        model=model,
        provider=provider,
        reasoning="".join(reasoning),
        tool_calls=tuple(calls),
        usage=usage,
        finish_reason=finish,
        citations=tuple(citations),
        request_id=request_id,
    )


# -- streams ------------------------------------------------------------------------------
class GeminiChatStream(ChatStream):
    """A :class:`ChatStream` that turns a blocking ``Finish`` into :class:`SafetyBlockedError`.

    Tokens before the block reach the caller; the rest of the stream is then read (its
    usage goes on the error) and the error is raised in place of the ``Finish``.
    """

    def __init__(self, provider: Provider, call: HttpCall, *, coalesce: bool = True, raise_on_block: bool = True):
        super().__init__(provider, call, coalesce=coalesce)
        self._raise_on_block = raise_on_block
        self._block_reason: Optional[str] = None
        self._after_block: list[StreamToken] = []
        self._block_error: Optional[SafetyBlockedError] = None

    async def _fill(self) -> None:
        if self._block_reason is None:
            await super()._fill()
            self._find_block()
            if self._pending:
                return
        await self._raise_block()

    def _find_block(self) -> None:
        if not self._raise_on_block:
            return
        for index, token in enumerate(self._pending):
            if token.kind == "finish" and token.reason in BLOCK_REASONS:  # type: ignore[union-attr]
                tokens = list(self._pending)
                self._pending.clear()
                self._pending.extend(tokens[:index])
                self._after_block.extend(tokens[index + 1 :])
                self._block_reason = token.reason  # type: ignore[union-attr]
                return

    async def _raise_block(self) -> NoReturn:
        if self._block_error is None:
            try:
                # Read to the end: Gemini reports the usage with (or after) the block.
                while True:
                    await super()._fill()
                    self._after_block.extend(self._pending)
                    self._pending.clear()
            except StopAsyncIteration:
                pass
            except TokenwireError:
                pass  # the block is the answer; a late failure does not change it
            finally:
                await self.aclose()
            usage = next((t for t in self._after_block if t.kind == "usage"), None)
            assert self._block_reason is not None
            error = _blocked(
                self._block_reason,
                prompt=None,
                detail=None,
                provider=self._provider.name,
                model=self._call.model,
                usage=usage,  # type: ignore[arg-type]
            )
            self._block_error = error
            self._annotate(error)
        raise self._block_error


# -- the provider -------------------------------------------------------------------------
def _model_path(model: str) -> str:
    if model.startswith(("models/", "tunedModels/")):
        return model
    return f"models/{model}"


class GeminiProvider(Provider):
    """The Gemini API (Google AI Studio keys), as Roo-Code drives it (see the module docs).

    Args:
        api_key: sent as ``x-goog-api-key`` (default: ``GEMINI_API_KEY``, then
            ``GOOGLE_API_KEY``).
        base_url: API root without the version (default: ``GOOGLE_GEMINI_BASE_URL``,
            ``GEMINI_BASE_URL`` or ``https://generativelanguage.googleapis.com``).
        api_version: path version segment (``"v1beta"``).
        grounding: add the Google Search tool to every request (Roo's ``enableGrounding``).
        url_context: add the URL context tool to every request (Roo's ``enableUrlContext``).
        default_temperature: temperature when the request sets none (Roo: 0; ``None`` omits it).
        safety_settings: ``safetySettings`` sent with every request.
        raise_on_block: raise :class:`SafetyBlockedError` for blocked prompts/answers.
        timeouts, headers, http_client, coalesce: as for :class:`Provider`.
    """

    name: ClassVar[str] = "gemini"
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        streaming=True,
        tools=True,
        images=True,
        reasoning=True,
        prompt_cache=True,
        legacy_completions=False,
        list_models=True,
        count_tokens_endpoint=True,
    )
    api_key_env: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_env: ClassVar[tuple[str, ...]] = ("GOOGLE_GEMINI_BASE_URL", "GEMINI_BASE_URL")
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    #: ``pageSize`` of the model-list requests (the API's maximum).
    models_page_size: int = 1000

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        api_version: str = GEMINI_API_VERSION,
        grounding: bool = False,
        url_context: bool = False,
        default_temperature: Optional[float] = 0.0,
        safety_settings: Optional[Sequence[Mapping[str, Any]]] = None,
        raise_on_block: bool = True,
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
        if not api_version or "/" in api_version:
            raise ConfigurationError(f"gemini: invalid api_version {api_version!r}")
        self.api_version = api_version
        self.grounding = bool(grounding)
        self.url_context = bool(url_context)
        self.default_temperature = default_temperature
        self.safety_settings = _safety_settings(safety_settings, "gemini: safety_settings")
        self.raise_on_block = bool(raise_on_block)

    # -- request building --------------------------------------------------------------------
    def _headers(self, extra: Mapping[str, str], *, body: bool = True) -> dict[str, str]:
        base = {"x-goog-api-key": self.require_api_key()}
        if body:
            base["content-type"] = "application/json"
        return merge_headers(base, self.extra_headers, extra)

    def _url(self, model: str, method: str) -> str:
        return f"{self.base_url}/{self.api_version}/{_model_path(model)}:{method}"

    def params(self, request: ChatRequest) -> GeminiParams:
        """Roo's model parameters for ``request``."""
        return gemini_params(request, GEMINI_MODELS, default_temperature=self.default_temperature, who=self.name)

    def build_body(self, request: ChatRequest) -> tuple[str, dict[str, Any]]:
        """The model id sent and the ``generateContent`` body."""
        params = self.params(request)
        body = build_generate_content_body(
            request,
            params,
            grounding=self.grounding,
            url_context=self.url_context,
            safety_settings=self.safety_settings,
            who=self.name,
        )
        return params.wire_model, body

    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        model, body = self.build_body(request)
        return HttpCall(
            method="POST",
            url=self._url(model, "streamGenerateContent" if stream else "generateContent"),
            headers=self._headers(request.extra_headers),
            json=body,
            params={"alt": "sse"} if stream else {},
            dialect="gemini" if stream else None,
            model=request.model,
            timeout=request.timeout,
        )

    def build_count_tokens_call(self, request: ChatRequest) -> HttpCall:
        """``:countTokens`` for ``request``: ``{"contents"}``, or the whole
        ``generateContentRequest`` when a system prompt or tools must be counted too."""
        model, body = self.build_body(request)
        if "systemInstruction" in body or "tools" in body:
            inner = {k: v for k, v in body.items() if k in ("contents", "systemInstruction", "tools", "toolConfig")}
            document: dict[str, Any] = {"generateContentRequest": {"model": _model_path(model), **inner}}
        else:
            document = {"contents": body["contents"]}
        return HttpCall(
            method="POST",
            url=self._url(model, "countTokens"),
            headers=self._headers(request.extra_headers),
            json=document,
            model=request.model,
            timeout=request.timeout,
        )

    def build_models_call(self, *, page_token: Optional[str] = None) -> HttpCall:
        params = {"pageSize": str(self.models_page_size)}
        if page_token:
            params["pageToken"] = page_token
        return HttpCall(
            method="GET",
            url=f"{self.base_url}/{self.api_version}/models",
            headers=self._headers({}, body=False),
            params=params,
        )

    def _raise_on_block(self, request: Union[ChatRequest, CompletionRequest]) -> bool:
        option = _option_bool(request.options, "raise_on_block", self.name)
        return self.raise_on_block if option is None else option

    # -- responses ----------------------------------------------------------------------------
    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        return parse_generate_content(
            data, provider=self.name, model=model, request_id=request_id, raise_on_block=self.raise_on_block
        )

    def parse_models(self, data: Any) -> list[ModelInfo]:
        items = data.get("models") if isinstance(data, Mapping) else None
        return [
            _model_info(item, self.name)
            for item in (items if isinstance(items, list) else ())
            if isinstance(item, Mapping) and isinstance(item.get("name"), str)
        ]

    # -- public calls with Gemini specifics ---------------------------------------------------
    async def chat(self, request: ChatRequest) -> ChatResponse:
        call = self.build_chat_call(request, stream=False)
        response = await self.send(call)
        data = _json_or_error(self, response, call)
        return parse_generate_content(
            data,
            provider=self.name,
            model=request.model,
            request_id=request_id_from(response.headers),
            raise_on_block=self._raise_on_block(request),
        )

    def chat_stream(self, request: ChatRequest) -> GeminiChatStream:
        return GeminiChatStream(
            self,
            self.build_chat_call(request, stream=True),
            coalesce=self.coalesce,
            raise_on_block=self._raise_on_block(request),
        )

    def complete_stream(self, request: CompletionRequest) -> GeminiChatStream:
        return GeminiChatStream(
            self,
            self.build_chat_call(request.as_chat(), stream=True),
            coalesce=self.coalesce,
            raise_on_block=self._raise_on_block(request),
        )

    async def list_models(self) -> list[ModelInfo]:
        """Every model of ``GET /models``, following ``nextPageToken``."""
        models: list[ModelInfo] = []
        token: Optional[str] = None
        seen: set[str] = set()
        for _ in range(_MAX_MODEL_PAGES):
            data = await self.send_json(self.build_models_call(page_token=token))
            models.extend(self.parse_models(data))
            following = data.get("nextPageToken") if isinstance(data, Mapping) else None
            # An empty or repeated token ends the listing (a repeat would loop forever).
            if not isinstance(following, str) or not following or following in seen:
                break
            seen.add(following)
            token = following
        return models

    async def count_tokens(self, request: ChatRequest, *, local_fallback: bool = True) -> int:
        """``totalTokens`` from ``:countTokens``.

        As Roo-Code does, a failed endpoint call, or an answer without ``totalTokens``,
        falls back to the local estimate (``local_fallback=False`` raises the error, and
        reads a missing ``totalTokens`` as 0 — proto3 JSON leaves zeros out). A missing
        key is always an error.
        """
        call = self.build_count_tokens_call(request)
        return await count_with_fallback(self, request, call, local_fallback=local_fallback)


async def count_with_fallback(provider: Provider, request: ChatRequest, call: HttpCall, *, local_fallback: bool) -> int:
    """``call`` (a ``countTokens`` call) sent and its ``totalTokens`` read, with Roo's
    fallback to the base class's local estimate (shared with the Vertex adapter)."""
    try:
        data = await provider.send_json(call)
        total = total_tokens(data, provider=provider.name, model=request.model)
    except (ProviderError, APIConnectionError) as exc:
        if not local_fallback:
            raise
        _log.debug("%s countTokens failed (%s); using the local estimate", provider.name, type(exc).__name__)
        return await Provider.count_tokens(provider, request)
    if total is None:
        return await Provider.count_tokens(provider, request) if local_fallback else 0
    return total


def total_tokens(data: Any, *, provider: str, model: str) -> Optional[int]:
    """``totalTokens`` of a ``countTokens`` answer; ``None`` when it is absent."""
    if not isinstance(data, Mapping):
        raise ProviderError(f"{provider}: countTokens answered {type(data).__name__}", provider=provider, model=model)
    value = data.get("totalTokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProviderError(
            f"{provider}: countTokens answered a non-integer totalTokens", provider=provider, model=model
        )
    return value


def _model_info(item: Mapping[str, Any], provider: str) -> ModelInfo:
    name: str = item["name"]
    model_id = name[len("models/") :] if name.startswith("models/") else name
    known = GEMINI_MODELS.get(model_id)
    display = item.get("displayName")
    thinking = item.get("thinking")
    return ModelInfo(
        id=model_id,
        provider=provider,
        display_name=display if isinstance(display, str) else None,
        context_window=_count(item.get("inputTokenLimit")) or (known.context_window if known else None),
        max_output_tokens=_count(item.get("outputTokenLimit")) or (known.max_tokens if known else None),
        supports_images=bool(known.supports_images) if known else True,
        supports_prompt_cache=bool(known and known.supports_prompt_cache),
        supports_reasoning=thinking if isinstance(thinking, bool) else bool(known and known.supports_reasoning_budget),
    )
