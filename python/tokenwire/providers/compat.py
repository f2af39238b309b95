"""The OpenAI-compatible provider family: one adapter, many declarative profiles.

Every provider here speaks Chat Completions (``POST {base}/chat/completions`` with SSE
streams read by the ``openai-chat`` dialect of the native ``StreamProcessor``). What
differs between them — base URL and regional lines, auth, extra headers, the
max-tokens field, ``stream_options``, default temperature, message constraints,
request extras, the model-list endpoint — is data: a frozen :class:`Profile`. One
class, :class:`CompatProvider` (built on :class:`~tokenwire.providers.openai.OpenAIProvider`'s
Chat Completions machinery), runs every profile. ``PROFILES`` maps each registry name
to its profile; the registry builds providers through the module-level factories
(``compat.deepseek(api_key=...)`` …) or :func:`create`.

The behaviour reproduces Roo-Code (RooCodeInc/Roo-Code at ``9bcd9918``) in our own
code, handler by handler (``src/api/providers/<name>.ts``, the transforms in
``src/api/transform/`` and the fetchers in ``src/api/providers/fetchers/``). Registry
names are Roo's ``apiProvider`` values from ``src/api/index.ts``: LiteLLM is
``"litellm"`` and LM Studio ``"lmstudio"``. Perplexity is not in Roo at that commit;
its profile follows Perplexity's API documentation.

Roster (base URL · auth/headers · quirks)
    ======================  ==========================================================  ==============================
    name                    default base URL (named regions)                            quirks
    ======================  ==========================================================  ==============================
    openrouter              https://openrouter.ai/api/v1                                attribution headers; provider
                                                                                        routing, ``transforms:
                                                                                        ["middle-out"]``, ``reasoning``,
                                                                                        ``usage: {include: true}``;
                                                                                        R1 format for deepseek-r1;
                                                                                        cache breakpoints for Roo's
                                                                                        Anthropic/Gemini list
    requesty                https://router.requesty.ai/v1                               ``requesty`` metadata,
                                                                                        ``reasoning_effort``,
                                                                                        Anthropic-style ``thinking``
    glama                   https://glama.ai/api/gateway/openai/v1                      ``X-Glama-Metadata``; no
                                                                                        ``stream_options``; usage
                                                                                        and cost looked up after
                                                                                        the answer
    unbound                 https://api.getunbound.ai/v1                                ``X-Unbound-Metadata``,
                                                                                        ``unbound_metadata``; model
                                                                                        sent without its vendor prefix
    litellm                 http://localhost:4000                                       key optional (``dummy-key``);
                                                                                        ``/v1/model/info``; GPT-5 →
                                                                                        ``max_completion_tokens``
    roo                     https://api.roocode.com/proxy/v1                            ``X-Roo-Task-ID``
    deepseek                https://api.deepseek.com                                    R1 format + 0.6 for
                                                                                        deepseek-reasoner;
                                                                                        ``max_completion_tokens``
    moonshot                https://api.moonshot.ai/v1 (``china``: .cn)                 ``max_tokens``
    xai                     https://api.x.ai/v1                                         ``reasoning_effort``
    groq                    https://api.groq.com/openai/v1                              usage under ``x_groq``
    mistral                 https://api.mistral.ai/v1 (``codestral``)                   Mistral's message rules; no
                                                                                        ``stream_options``
    cerebras                https://api.cerebras.ai/v1                                  string contents, ``<think>``
                                                                                        stripped from history,
                                                                                        temperature in [0, 1.5]
    chutes / featherless    https://llm.chutes.ai/v1 · https://api.featherless.ai/v1    DeepSeek-R1: R1 format, 0.6
    deepinfra               https://api.deepinfra.com/v1/openai                         ``X-Deepinfra-*``,
                                                                                        ``prompt_cache_key``
    doubao                  https://ark.cn-beijing.volces.com/api/v3 (``byteplus``)     plain-text message contents
    fireworks, sambanova    see the profiles                                            plain
    huggingface             https://router.huggingface.co/v1                            ``model:provider`` suffix
    io-intelligence         https://api.intelligence.io.solutions/api/v1                plain
    zai                     https://api.z.ai/api/coding/paas/v4 (4 API lines)           plain
    perplexity              https://api.perplexity.ai                                   alternating roles; citations
    lmstudio                http://localhost:1234/v1                                    no key (``noop``),
                                                                                        ``draft_model``
    vercel-ai-gateway       https://ai-gateway.vercel.sh/v1                             ``max_completion_tokens``
    ======================  ==========================================================  ==============================

    (``ollama`` speaks its native ``/api/chat`` protocol: :mod:`tokenwire.providers.ollama`.)

Authentication
    ``Authorization: Bearer <key>`` from ``api_key=`` or the profile's environment
    variables (``OPENROUTER_API_KEY``, ``DEEPSEEK_API_KEY``, …; see each profile's
    ``api_key_env``). Local servers need no key: LM Studio sends Roo's placeholder
    ``noop``, LiteLLM ``dummy-key``, unless a key is given. Base URLs come from
    ``base_url=``, then ``region=`` (a named line such as ``zai``'s ``"china"``), then
    the profile's ``*_BASE_URL`` variable, then the default.

Headers
    Every call carries ``User-Agent: tokenwire/<version>``, ``Accept`` and (with a body)
    ``Content-Type``. Profiles whose Roo handler sends Roo's ``DEFAULT_HEADERS`` send the
    same attribution headers with the application's values: ``HTTP-Referer`` (``app_url=``,
    default ``https://pypi.org/project/tokenwire/``) and ``X-Title`` (``app_title=``,
    default ``tokenwire``). Glama and Unbound add their metadata header
    (``{"labels": [{"key": "app", "value": <app_title>}]}``), DeepInfra its
    ``X-Deepinfra-Source`` (the app title; Roo sends ``roo-code``) and
    ``X-Deepinfra-Version: 2025-08-25``, Roo ``X-Roo-Task-ID`` when the request names a
    task. ``headers=`` and ``request.extra_headers`` are merged last.

Request body (what every profile shares)
    ``model``; ``temperature`` (the request's, else the profile's default — Roo's —
    or the matching model rule's; ``default_temperature=`` overrides it and ``None``
    sends none); ``messages`` (system prompt first, then Roo's OpenAI conversion, as
    :func:`tokenwire.providers.openai.chat_messages`, then the profile's transforms);
    ``stream: true`` and, where Roo sends it, ``stream_options: {include_usage: true}``;
    ``request.max_tokens`` under the profile's field (Roo fills in the model table's
    maximum when none is set; tokenwire sends a limit only when the request has one);
    ``top_p``, ``stop``, ``tools``, ``tool_choice``, ``response_format`` and ``user``
    when set; ``reasoning_effort`` for the profiles whose Roo handler sends one
    (``"minimal"`` is never sent); then the profile's hook; ``extra_body`` last (a
    ``None`` value removes a field).

Message transforms (Roo's ``transform/*.ts``; tool calls, which Roo never sends, stay as Chat Completions has them)
    - R1 format (DeepSeek reasoner, DeepSeek-R1 on Chutes/Featherless/OpenRouter): the
      system prompt becomes the first ``user`` message and consecutive messages with
      the same role are merged (text joined with ``"\\n"``; parts concatenated when
      images are involved).
    - Perplexity: consecutive user (or assistant) messages are merged the same way,
      as its API requires alternating roles.
    - Doubao: every content becomes one string (images as ``[Image: <type>]``).
    - Cerebras: contents become strings (images as ``[Image]``), ``<think>…</think>``
      blocks are stripped from assistant history, empty messages dropped.
    - Mistral: assistant messages without content or tool calls are dropped, tool-call
      ids become 9 alphanumeric characters (stably derived; the API rejects others), and
      a trailing assistant message is sent with ``"prefix": true``.
    - Prompt-cache breakpoints where Roo adds them (OpenRouter's and Vercel's model
      lists, Glama's ``anthropic/claude-3*``, Unbound's Anthropic/Google models, LiteLLM
      with ``prompt_cache=True``, DeepSeek and Moonshot as Roo's OpenAI handler does).

``request.options`` keys (unknown keys are ignored)
    - ``task_id`` (str): Roo's ``X-Roo-Task-ID``, Requesty's ``requesty.trace_id``,
      DeepInfra's ``prompt_cache_key``, Unbound's ``unbound_metadata.taskId``;
    - ``mode`` (str): Requesty's ``requesty.extra.mode``, Unbound's ``unbound_metadata.mode``;
    - ``reasoning`` (mapping): OpenRouter's ``reasoning`` object as given.

Streams
    The ``openai-chat`` dialect reads ``reasoning_content``/``reasoning``, usage with
    DeepSeek's, Moonshot's and Groq's (``x_groq``) fields, Perplexity's ``citations`` and
    ``search_results`` (→ ``Citation`` tokens), OpenRouter's comments and in-stream
    errors. Profiles whose models stream ``<think>…</think>`` inside the content (Roo's
    XML matcher: DeepSeek, Moonshot, Doubao, Cerebras, LM Studio, DeepSeek-R1 on Chutes
    and Featherless) pass the dialect's ``think_tags`` option, which splits it into
    ``ReasoningDelta`` natively (blocks anywhere, not only at the start as Roo's matcher
    has it; see :func:`split_think`).

Cost
    A cost the provider bills is the ``Usage`` token's ``cost``: OpenRouter's
    ``usage.cost`` plus its BYOK ``cost_details.upstream_inference_cost`` and Vercel AI
    Gateway's ``usage.cost`` (read by the dialect), and Glama's ``totalCostUsd``: Glama
    reports usage and cost only through its completion-request API, which the adapter
    queries after the answer (the profile's :class:`UsageLookup`; Roo does the same for
    streams). :func:`tokenwire.catalog.cost` and the manager's cost metrics use it.

Non-streaming answers
    ``chat()`` reads the body as the stream would be read: its usage goes through the
    same dialect (same fields, same precedence, the cost included) and its content
    through the same ``<think>`` splitter, so ``chat()`` and ``chat_stream()`` agree.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Literal, Optional, Union, cast
from urllib.parse import quote, urlsplit

import anyio
import httpx

from tokenwire import __version__
from tokenwire._backend import impl as _impl
from tokenwire._http import Timeouts, request_id_from
from tokenwire.errors import ConfigurationError, TokenwireError
from tokenwire.providers.base import ChatStream, HttpCall, _json_or_error, merge_headers
from tokenwire.providers.openai import OpenAIProvider, chat_body_usage, chat_messages, chat_tool, chat_tool_choice
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    CompletionResponse,
    ModelInfo,
    ProviderCapabilities,
    StreamToken,
    Usage,
)

__all__ = [
    "DEFAULT_APP_TITLE",
    "DEFAULT_APP_URL",
    "PROFILES",
    "CacheStyle",
    "CompatProvider",
    "MessageStyle",
    "ModelList",
    "ModelRule",
    "Profile",
    "UsageLookup",
    "UsageLookupStream",
    "create",
    "get_profile",
    "parse_glama_usage",
    "split_think",
]

_log = logging.getLogger("tokenwire.providers.compat")

#: The attribution headers' defaults (Roo sends its own repository URL and name).
DEFAULT_APP_URL = "https://pypi.org/project/tokenwire/"
DEFAULT_APP_TITLE = "tokenwire"

AuthStyle = Literal["bearer", "none"]
MessageStyle = Literal["openai", "simple", "cerebras", "mistral"]
CacheStyle = Literal["openai", "anthropic", "gemini", "vercel", "litellm"]
#: ``(provider, request, body)``: adds a profile's extra body fields.
RequestHook = Callable[["CompatProvider", ChatRequest, dict[str, Any]], None]
#: ``(response body, provider name)`` → models.
ModelParser = Callable[[Any, str], list[ModelInfo]]
#: A usage record's JSON body → its :class:`Usage`, or ``None`` while it is not settled.
UsageParser = Callable[[Any], Optional[Usage]]

_EPHEMERAL: Mapping[str, str] = {"type": "ephemeral"}
_THINK_BLOCK = re.compile(r"<think>[\s\S]*?</think>")
_MISTRAL_TOOL_ID = re.compile(r"^[A-Za-z0-9]{9}$")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# -- profile data ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRule:
    """Per-model settings of a profile, for the model ids that match.

    A rule matches an id that starts with one of ``prefixes``, contains one of
    ``contains``, equals one of ``exact`` (case-insensitive when ``ignore_case``) or
    matches the regular expression ``pattern``; ``every_model`` matches all ids.
    Every matching rule applies, in order; a later rule's set fields win.
    """

    prefixes: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    pattern: Optional[str] = None
    every_model: bool = False
    ignore_case: bool = False
    #: The default temperature for these models (the request's still wins).
    temperature: Optional[float] = None
    #: Send no temperature at all (models that reject one).
    omit_temperature: bool = False
    #: ``top_p`` sent when the request sets none.
    top_p: Optional[float] = None
    #: Roo's R1 message format (system prompt as a user message, same roles merged).
    r1_format: bool = False
    #: Split ``<think>`` blocks in the streamed content into reasoning.
    think_tags: bool = False
    #: Another max-tokens field for these models.
    max_tokens_field: Optional[str] = None
    #: Prompt-cache breakpoints to add.
    cache: Optional[CacheStyle] = None
    #: A named region of the profile whose base URL these models use by default.
    region: Optional[str] = None

    def matches(self, model: str) -> bool:
        """Whether the rule applies to ``model``."""
        if self.every_model:
            return True
        subject = model.lower() if self.ignore_case else model
        return (
            any(subject.startswith(p) for p in self.prefixes)
            or any(c in subject for c in self.contains)
            or subject in self.exact
            or (self.pattern is not None and re.search(self.pattern, model) is not None)
        )


@dataclass(frozen=True)
class ModelList:
    """A model-list endpoint: ``url`` is a template with ``{base}`` (the base URL) or
    ``{origin}`` (its scheme and host); ``parse`` turns the JSON body into models."""

    url: str
    parse: ModelParser


@dataclass(frozen=True)
class UsageLookup:
    """A provider that reports an answer's usage and cost after the answer (Glama).

    When a response carries the header ``id_header``, the adapter fetches
    ``GET url`` — a template with ``{origin}`` (the base URL's scheme and host),
    ``{base}`` (the base URL) and ``{id}`` (the header's value, URL-quoted) — with the
    provider's auth header once the answer is complete: at the end of a stream (its
    ``Usage`` token then comes last, after the stream's own tokens) and after a
    non-streaming answer. ``parse`` reads the record; while it returns ``None`` (the
    provider has not settled the request yet) the lookup is repeated after ``delay``
    seconds, up to ``attempts`` requests in all. The usage found replaces the one the
    response carried. The lookup is bounded by the request's total timeout (else the
    provider's); when it fails (an HTTP error, a body that is not JSON, no settled
    record, the time limit) the response's own usage stands and the failure is logged at
    debug level — an answer is never lost or failed by its usage lookup.
    """

    url: str
    id_header: str
    parse: UsageParser
    attempts: int = 10
    delay: float = 0.2


@dataclass(frozen=True)
class Profile:
    """Everything that distinguishes one OpenAI-compatible provider (see the module docs)."""

    #: Registry name (Roo's ``apiProvider`` value).
    name: str
    #: Display name (Roo's ``providerName``).
    title: str
    #: Default base URL (the root that ``/chat/completions`` is appended to).
    base_url: str
    #: Named base URLs (regional or product lines), chosen with ``region=``.
    regions: Mapping[str, str] = field(default_factory=lambda: {})
    api_key_env: tuple[str, ...] = ()
    base_url_env: tuple[str, ...] = ()
    #: ``"bearer"``: ``Authorization: Bearer <key>``; ``"none"``: no auth header unless a key is given.
    auth: AuthStyle = "bearer"
    #: The bearer value sent when no key is configured (local servers); the key is then optional.
    placeholder_key: Optional[str] = None
    #: Send ``HTTP-Referer`` / ``X-Title`` (Roo's ``DEFAULT_HEADERS``).
    attribution: bool = True
    #: Fixed extra headers.
    headers: Mapping[str, str] = field(default_factory=lambda: {})
    #: Headers whose value is the application's title (DeepInfra's source header).
    app_title_headers: tuple[str, ...] = ()
    #: A header carrying ``{"labels": [{"key": "app", "value": <app title>}]}`` (Glama, Unbound).
    metadata_header: Optional[str] = None
    #: The header that carries ``request.options["task_id"]`` (Roo Code Cloud).
    task_header: Optional[str] = None
    #: Body field of ``request.max_tokens``.
    max_tokens_field: str = "max_tokens"
    #: Largest limit sent; a larger one is left out (Cerebras, as Roo).
    max_tokens_limit: Optional[int] = None
    #: Send ``stream_options: {include_usage: true}`` when streaming.
    stream_usage: bool = True
    #: Roo's default temperature (``None``: none is sent).
    default_temperature: Optional[float] = 0.0
    #: Only send a temperature that differs from the default (Cerebras).
    omit_default_temperature: bool = False
    #: Clamp the temperature into this range.
    temperature_range: Optional[tuple[float, float]] = None
    #: Send ``request.reasoning_effort`` as ``reasoning_effort``.
    reasoning_effort: bool = False
    #: Conversion of message contents.
    messages: MessageStyle = "openai"
    #: Merge consecutive same-role messages (APIs that require alternating roles).
    alternate_roles: bool = False
    #: Split ``<think>`` in the streamed content for every model.
    think_tags: bool = False
    rules: tuple[ModelRule, ...] = ()
    #: Model ids replaced before sending (Roo's aliases).
    model_aliases: Mapping[str, str] = field(default_factory=lambda: {})
    #: Send the model id without its ``vendor/`` prefix (Unbound).
    strip_vendor_prefix: bool = False
    #: Extra body fields (OpenRouter routing, Requesty metadata, …).
    hook: Optional[RequestHook] = None
    #: The model-list endpoint, if the provider has one.
    models: Optional[ModelList] = None
    #: Where the provider reports usage and cost after an answer (Glama).
    usage_lookup: Optional[UsageLookup] = None
    #: Provider options (keyword arguments of :class:`CompatProvider`) this profile takes.
    options: frozenset[str] = frozenset()
    capabilities: ProviderCapabilities = field(default_factory=ProviderCapabilities)
    #: One line on what is special, for documentation tables.
    quirks: str = ""

    def region_url(self, region: str) -> str:
        """The base URL of a named region (``ConfigurationError`` for an unknown one)."""
        try:
            return self.regions[region]
        except KeyError:
            known = ", ".join(sorted(self.regions)) or "none"
            raise ConfigurationError(f"{self.name}: unknown region {region!r}; known regions: {known}") from None


@dataclass(frozen=True)
class _Settings:
    """A profile's settings after the model rules for one model id."""

    temperature: Optional[float]
    omit_temperature: bool
    top_p: Optional[float]
    r1_format: bool
    think_tags: bool
    max_tokens_field: str
    cache: Optional[CacheStyle]
    region: Optional[str]


# -- think tags ---------------------------------------------------------------------------------
def _openai_chat_processor(*, think_tags: bool, size: int) -> Any:
    """An ``openai-chat`` processor of the active backend that takes one event of ``size`` bytes."""
    return _impl.StreamProcessor("openai-chat", think_tags=think_tags, max_event_bytes=max(size + 64, 1 << 24))


def _run_openai_chat(chunk: Mapping[str, Any], *, think_tags: bool = False) -> list[StreamToken]:
    """The tokens a stream made of the single chunk ``chunk`` decodes to (end of stream included)."""
    event = b"data: " + json.dumps(chunk).encode("ascii") + b"\n\n"
    processor = _openai_chat_processor(think_tags=think_tags, size=len(event))
    tokens: list[StreamToken] = processor.feed(event)
    tokens += processor.finish()
    return tokens


def split_think(text: str) -> tuple[str, str]:
    """``(reasoning, text)`` of a complete answer whose content may hold ``<think>…</think>`` blocks.

    The result is what a stream of the same content yields with the ``openai-chat``
    dialect's ``think_tags`` option, joined per kind — the same splitter runs (the
    content is handed to the dialect as one delta): blocks anywhere, any number of them,
    exact tags only, no nesting, an unterminated block reasoning to the end (see
    :class:`tokenwire.StreamProcessor`). Roo-Code's ``XmlMatcher`` differs on purpose
    (it opens a block only at the very start and nests); see ``tokenwire._pure.processor``.
    Non-streaming answers use this, so ``chat()`` and ``chat_stream()`` agree.
    """
    if "<think>" not in text:
        return "", text  # no block can open: all text, exactly as the splitter leaves it
    reasoning: list[str] = []
    answer: list[str] = []
    for token in _run_openai_chat({"choices": [{"index": 0, "delta": {"content": text}}]}, think_tags=True):
        if token.kind == "reasoning":
            reasoning.append(token.text)  # type: ignore[union-attr]
        elif token.kind == "text":
            answer.append(token.text)  # type: ignore[union-attr]
    return "".join(reasoning), "".join(answer)


# -- message transforms -----------------------------------------------------------------------------
def _parts_of(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(p) for p in content] if isinstance(content, list) else []  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]


def _plain(message: Mapping[str, Any]) -> bool:
    """A message that may be merged: user/assistant text, no tool traffic."""
    return message.get("role") in ("user", "assistant") and "tool_calls" not in message


def _r1_content(content: Any) -> Any:
    # Roo's R1 conversion: texts joined by "\n"; with images, one text part then the images.
    if not isinstance(content, list):
        return content if isinstance(content, str) else ""
    texts = [p["text"] for p in content if p.get("type") == "text"]  # pyright: ignore[reportUnknownVariableType]
    images = [p for p in content if p.get("type") == "image_url"]  # pyright: ignore[reportUnknownVariableType]
    if not images:
        return "\n".join(texts)  # pyright: ignore[reportUnknownArgumentType]
    head: list[Any] = [{"type": "text", "text": "\n".join(texts)}] if texts else []  # pyright: ignore[reportUnknownArgumentType]
    return head + images


def merge_same_roles(messages: list[dict[str, Any]], *, normalize: bool) -> list[dict[str, Any]]:
    """Merge consecutive user (or assistant) messages; text with ``"\\n"``, parts by
    concatenation. ``normalize`` applies Roo's R1 content conversion first."""
    out: list[dict[str, Any]] = []
    for message in messages:
        current = dict(message)
        if normalize and _plain(current):
            current["content"] = _r1_content(current.get("content"))
        last = out[-1] if out else None
        if last is not None and _plain(last) and _plain(current) and last["role"] == current["role"]:
            before, after = last.get("content", ""), current.get("content", "")
            if isinstance(before, str) and isinstance(after, str):
                last["content"] = f"{before}\n{after}"
            else:
                last["content"] = _parts_of(before) + _parts_of(after)
            continue
        out.append(current)
    return out


def _r1_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Roo sends the system prompt as the first user message on this path.
    converted = [{**m, "role": "user"} if m.get("role") == "system" else m for m in messages]
    return merge_same_roles(converted, normalize=True)


def _simple_text(content: Any, image: Callable[[Mapping[str, Any]], str]) -> str:
    if isinstance(content, str):
        return content
    pieces: list[str] = []
    for part in content if isinstance(content, list) else ():  # pyright: ignore[reportUnknownVariableType]
        if part.get("type") == "text":
            pieces.append(part.get("text") or "")
        elif part.get("type") == "image_url":
            pieces.append(image(part))  # pyright: ignore[reportUnknownArgumentType]
    return "\n".join(p for p in pieces if p)


def _media_type(part: Mapping[str, Any]) -> str:
    url = str(part.get("image_url", {}).get("url", ""))
    if url.startswith("data:"):
        return url[5:].split(";", 1)[0].split(",", 1)[0] or "image"
    return url


def _simple_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Roo's simple format (Doubao): one string per message, images as "[Image: <type>]".
    return [
        {**m, "content": _simple_text(m.get("content"), lambda p: f"[Image: {_media_type(p)}]")}
        if m.get("role") in ("user", "assistant") and "content" in m
        else m
        for m in messages
    ]


def _cerebras_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") == "system":
            out.append(message)
            continue
        current = dict(message)
        content = _simple_text(current.get("content", ""), lambda _p: "[Image]")
        if current.get("role") == "assistant":
            # Roo strips the model's own thinking from the history it sends back.
            content = _THINK_BLOCK.sub("", content).strip()
        current["content"] = content
        if not content.strip() and "tool_calls" not in current and current.get("role") != "tool":
            continue
        out.append(current)
    return out


def mistral_tool_id(call_id: str) -> str:
    """A tool-call id Mistral accepts (9 characters of ``[A-Za-z0-9]``): valid ids are kept,
    others are replaced by a stable digest, so a call and its result keep matching."""
    if _MISTRAL_TOOL_ID.match(call_id):
        return call_id
    digest = hashlib.sha256(call_id.encode("utf-8")).digest()
    return "".join(_BASE62[b % 62] for b in digest[:9])


def _mistral_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        current = dict(message)
        role = current.get("role")
        if role == "assistant":
            if not current.get("content") and not current.get("tool_calls"):
                continue
            if "tool_calls" in current:
                current["tool_calls"] = [
                    {**call, "id": mistral_tool_id(str(call.get("id", "")))} for call in current["tool_calls"]
                ]
        elif role == "tool":
            current["tool_call_id"] = mistral_tool_id(str(current.get("tool_call_id", "")))
        out.append(current)
    if out and out[-1].get("role") == "assistant":
        # Mistral serves a trailing assistant message only as a prefix to continue.
        out[-1] = {**out[-1], "prefix": True}
    return out


def _last_text_part(content: list[dict[str, Any]]) -> dict[str, Any]:
    for part in reversed(content):
        if part.get("type") == "text":
            return part  # type: ignore[no-any-return]  # mypy sees Any through .get narrowing
    part = {"type": "text", "text": "..."}
    content.append(part)
    return part


def _add_cache(style: CacheStyle, messages: list[dict[str, Any]]) -> None:
    """Roo's prompt-cache breakpoints (``transform/caching/*.ts`` and ``openai.ts``)."""
    system = messages[0] if messages and messages[0].get("role") == "system" else None
    if system is not None and isinstance(system.get("content"), str):
        text = system["content"]
        if style == "vercel":
            system["cache_control"] = dict(_EPHEMERAL)
        else:
            system["content"] = [{"type": "text", "text": text, "cache_control": dict(_EPHEMERAL)}]
    users = [m for m in messages if m.get("role") == "user"]
    if style in ("anthropic", "gemini"):
        for message in users:
            if isinstance(message.get("content"), str):
                message["content"] = [{"type": "text", "text": message["content"]}]
    if style == "gemini":
        for count, message in enumerate(users):
            if count % 10 == 9 and isinstance(message.get("content"), list):
                _last_text_part(message["content"])["cache_control"] = dict(_EPHEMERAL)
        return
    for message in users[-2:]:
        content = message.get("content")
        if style == "litellm":
            if isinstance(content, str):
                message["content"] = [{"type": "text", "text": content, "cache_control": dict(_EPHEMERAL)}]
            elif isinstance(content, list) and content:
                content[-1] = {**content[-1], "cache_control": dict(_EPHEMERAL)}  # pyright: ignore[reportUnknownMemberType]
            continue
        if style == "vercel":
            if isinstance(content, str) and content:
                message["content"] = content = [{"type": "text", "text": content}]
            if isinstance(content, list):
                texts: list[dict[str, Any]] = [p for p in content if p.get("type") == "text"]  # pyright: ignore[reportUnknownVariableType]
                if texts and texts[-1].get("text"):
                    texts[-1]["cache_control"] = dict(_EPHEMERAL)
            continue
        if isinstance(content, str):
            message["content"] = content = [{"type": "text", "text": content}]
        if isinstance(content, list):
            _last_text_part(content)["cache_control"] = dict(_EPHEMERAL)  # pyright: ignore[reportUnknownArgumentType]


# -- model-list parsers ---------------------------------------------------------------------------
def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _int(value: Any) -> Optional[int]:
    number = _num(value)
    return int(number) if number is not None and number >= 0 and math.isfinite(number) else None


def _per_million(value: Any) -> Optional[float]:
    """A per-token price (number or decimal string) as USD per million tokens; 0 and
    missing are ``None``, as Roo's ``parseApiPrice``."""
    number = _num(value)
    return number * 1_000_000 if number else None


def _sub(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def _items(data: Any, key: str = "data") -> list[Mapping[str, Any]]:
    items = data.get(key) if isinstance(data, Mapping) else None
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []  # pyright: ignore[reportUnknownVariableType]


def _str_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]


def parse_openai_models(data: Any, provider: str) -> list[ModelInfo]:
    """``{"data": [{"id"}, …]}``: ids only, deduplicated, in order."""
    seen: set[str] = set()
    out: list[ModelInfo] = []
    for item in _items(data):
        model_id = item.get("id")
        if isinstance(model_id, str) and model_id and model_id not in seen:
            seen.add(model_id)
            out.append(ModelInfo(id=model_id, provider=provider))
    return out


def parse_openrouter_models(data: Any, provider: str) -> list[ModelInfo]:
    """OpenRouter ``/models`` (Roo's ``parseOpenRouterModel``): image-output models skipped;
    max output from ``top_provider`` else 20% of the context; per-token prices."""
    out: list[ModelInfo] = []
    for item in _items(data):
        model_id = item.get("id")
        if not isinstance(model_id, str) or not model_id:
            continue
        arch = _sub(item, "architecture")
        if "image" in _str_list(arch.get("output_modalities")):
            continue
        context = _int(item.get("context_length"))
        top = _sub(item, "top_provider")
        max_out = _int(top.get("max_completion_tokens")) or (math.ceil(context * 0.2) if context else None)
        pricing = _sub(item, "pricing")
        cache_read = _per_million(pricing.get("input_cache_read"))
        name = item.get("name")
        out.append(
            ModelInfo(
                id=model_id,
                provider=provider,
                display_name=name if isinstance(name, str) else None,
                context_window=context,
                max_output_tokens=max_out,
                supports_images="image" in _str_list(arch.get("input_modalities")),
                supports_prompt_cache=cache_read is not None,
                supports_reasoning="reasoning" in _str_list(item.get("supported_parameters")),
                input_price=_per_million(pricing.get("prompt")),
                output_price=_per_million(pricing.get("completion")),
                cache_write_price=_per_million(pricing.get("input_cache_write")),
                cache_read_price=cache_read,
            )
        )
    return out


def parse_requesty_models(data: Any, provider: str) -> list[ModelInfo]:
    """Requesty ``/models`` (Roo's ``getRequestyModels``)."""
    return [
        ModelInfo(
            id=str(item["id"]),
            provider=provider,
            context_window=_int(item.get("context_window")),
            max_output_tokens=_int(item.get("max_output_tokens")),
            supports_images=item.get("supports_vision") is True,
            supports_prompt_cache=item.get("supports_caching") is True,
            supports_reasoning=item.get("supports_reasoning") is True,
            input_price=_per_million(item.get("input_price")),
            output_price=_per_million(item.get("output_price")),
            cache_write_price=_per_million(item.get("caching_price")),
            cache_read_price=_per_million(item.get("cached_price")),
        )
        for item in _items(data)
        if isinstance(item.get("id"), str) and item.get("id")
    ]


def parse_glama_models(data: Any, provider: str) -> list[ModelInfo]:
    """Glama ``/api/gateway/v1/models``: a JSON array (Roo's ``getGlamaModels``)."""
    out: list[ModelInfo] = []
    for item in data if isinstance(data, list) else []:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        caps = _str_list(item.get("capabilities"))
        prices = _sub(item, "pricePerToken")
        out.append(
            ModelInfo(
                id=str(item["id"]),
                provider=provider,
                context_window=_int(item.get("maxTokensInput")),
                max_output_tokens=_int(item.get("maxTokensOutput")),
                supports_images="input:image" in caps,
                supports_prompt_cache="caching" in caps,
                input_price=_per_million(prices.get("input")),
                output_price=_per_million(prices.get("output")),
                cache_write_price=_per_million(prices.get("cacheWrite")),
                cache_read_price=_per_million(prices.get("cacheRead")),
            )
        )
    return out


def parse_unbound_models(data: Any, provider: str) -> list[ModelInfo]:
    """Unbound ``/models``: an object keyed by model id, prices already per million;
    Anthropic models' max output is 8192 unless it is 4096 (Roo's ``getUnboundModels``)."""
    out: list[ModelInfo] = []
    for model_id, item in data.items() if isinstance(data, Mapping) else ():  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(model_id, str) or not isinstance(item, Mapping):
            continue
        max_out = _int(item.get("maxTokens"))
        if model_id.startswith("anthropic/") and max_out != 4096:
            max_out = 8192
        out.append(
            ModelInfo(
                id=model_id,
                provider=provider,
                context_window=_int(item.get("contextWindow")) or 0,
                max_output_tokens=max_out,
                supports_images=item.get("supportsImages") is True,
                supports_prompt_cache=item.get("supportsPromptCaching") is True,
                input_price=_num(item.get("inputTokenPrice")) or None,
                output_price=_num(item.get("outputTokenPrice")) or None,
                cache_write_price=_num(item.get("cacheWritePrice")) or None,
                cache_read_price=_num(item.get("cacheReadPrice")) or None,
            )
        )
    return out


def parse_litellm_models(data: Any, provider: str) -> list[ModelInfo]:
    """LiteLLM ``/v1/model/info`` (Roo's ``getLiteLLMModels``): entries without
    ``model_name``, ``model_info`` or ``litellm_params.model`` are skipped."""
    out: list[ModelInfo] = []
    for item in _items(data):
        name = item.get("model_name")
        info = item.get("model_info")
        params = item.get("litellm_params")
        if not isinstance(name, str) or not name or not isinstance(info, Mapping):
            continue
        if not isinstance(params, Mapping) or not params.get("model"):
            continue
        out.append(
            ModelInfo(
                id=name,
                provider=provider,
                context_window=_int(info.get("max_input_tokens")) or 200_000,
                max_output_tokens=_int(info.get("max_tokens")) or 8192,
                supports_images=bool(info.get("supports_vision")),
                supports_prompt_cache=bool(info.get("supports_prompt_caching")),
                supports_reasoning=bool(info.get("supports_reasoning")),
                input_price=_per_million(info.get("input_cost_per_token")),
                output_price=_per_million(info.get("output_cost_per_token")),
                cache_write_price=_per_million(info.get("cache_creation_input_token_cost")),
                cache_read_price=_per_million(info.get("cache_read_input_token_cost")),
            )
        )
    return out


def parse_deepinfra_models(data: Any, provider: str) -> list[ModelInfo]:
    """DeepInfra ``/models`` with its ``metadata`` (prices per million; context 8192 and
    max output 20% of it when absent, as Roo)."""
    out: list[ModelInfo] = []
    for item in _items(data):
        model_id = item.get("id")
        if not isinstance(model_id, str) or not model_id:
            continue
        meta = _sub(item, "metadata")
        tags = _str_list(meta.get("tags"))
        context = _int(meta.get("context_length")) or 8192
        pricing = _sub(meta, "pricing")
        out.append(
            ModelInfo(
                id=model_id,
                provider=provider,
                context_window=context,
                max_output_tokens=_int(meta.get("max_tokens")) or math.ceil(context * 0.2),
                supports_images="vision" in tags,
                supports_prompt_cache="prompt_cache" in tags,
                input_price=_num(pricing.get("input_tokens")),
                output_price=_num(pricing.get("output_tokens")),
                cache_read_price=_num(pricing.get("cache_read_tokens")),
            )
        )
    return out


def _huggingface_info(
    name: str, provider: str, providers: list[Mapping[str, Any]], chosen: Optional[Mapping[str, Any]]
) -> ModelInfo:
    # Roo: the chosen provider's context and prices, else the first provider that has them.
    context = (
        (_int(chosen.get("context_length")) if chosen else None)
        or next((_int(p.get("context_length")) for p in providers if _int(p.get("context_length"))), None)
        or 128_000
    )
    pricing = (chosen or {}).get("pricing") or next(
        (p.get("pricing") for p in providers if isinstance(p.get("pricing"), Mapping)), None
    )
    prices: Mapping[str, Any] = pricing if isinstance(pricing, Mapping) else {}
    return ModelInfo(
        id=name,
        provider=provider,
        context_window=context,
        max_output_tokens=min(context, 2048),
        input_price=_num(prices.get("input")),
        output_price=_num(prices.get("output")),
    )


def parse_huggingface_models(data: Any, provider: str) -> list[ModelInfo]:
    """Hugging Face router ``/models``: each model with providers, plus one
    ``<id>:<provider>`` entry per live provider (Roo's ``getHuggingFaceModels``)."""
    out: list[ModelInfo] = []
    for item in _items(data):
        model_id = item.get("id")
        raw = item.get("providers")
        providers: list[Mapping[str, Any]] = [p for p in raw if isinstance(p, Mapping)] if isinstance(raw, list) else []  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(model_id, str) or not providers:
            continue
        out.append(_huggingface_info(model_id, provider, providers, None))
        for chosen in providers:
            if chosen.get("status") == "live" and isinstance(chosen.get("provider"), str):
                out.append(_huggingface_info(f"{model_id}:{chosen['provider']}", provider, providers, chosen))
    return out


def parse_vercel_models(data: Any, provider: str) -> list[ModelInfo]:
    """Vercel AI Gateway ``/models``: language models only, per-token prices; prompt
    caching when both cache prices are listed (Roo's ``parseVercelAiGatewayModel``)."""
    out: list[ModelInfo] = []
    for item in _items(data):
        model_id = item.get("id")
        if not isinstance(model_id, str) or item.get("type") != "language":
            continue
        pricing = _sub(item, "pricing")
        write = _per_million(pricing.get("input_cache_write"))
        read = _per_million(pricing.get("input_cache_read"))
        name = item.get("name")
        out.append(
            ModelInfo(
                id=model_id,
                provider=provider,
                display_name=name if isinstance(name, str) else None,
                context_window=_int(item.get("context_window")),
                max_output_tokens=_int(item.get("max_tokens")),
                supports_prompt_cache=write is not None and read is not None,
                input_price=_per_million(pricing.get("input")),
                output_price=_per_million(pricing.get("output")),
                cache_write_price=write,
                cache_read_price=read,
            )
        )
    return out


_OPENAI_MODELS = ModelList("{base}/models", parse_openai_models)


# -- usage lookups ---------------------------------------------------------------------------------
def parse_glama_usage(data: Any) -> Optional[Usage]:
    """Glama's completion-request record (what Roo's ``glama.ts`` reads): ``tokenUsage``
    (``promptTokens``, ``completionTokens``, ``cacheReadInputTokens``,
    ``cacheCreationInputTokens``) and ``totalCostUsd`` (a decimal string or a number).
    ``None`` until both are present — Glama fills them in once the upstream request is
    done — or when the cost is not a finite number."""
    if not isinstance(data, Mapping):
        return None
    tokens = data.get("tokenUsage")
    cost = _num(data.get("totalCostUsd"))
    if not isinstance(tokens, Mapping) or cost is None or not math.isfinite(cost):
        return None
    counts = cast(Mapping[str, Any], tokens)
    return Usage(
        _int(counts.get("promptTokens")) or 0,
        _int(counts.get("completionTokens")) or 0,
        cache_read_tokens=_int(counts.get("cacheReadInputTokens")) or 0,
        cache_write_tokens=_int(counts.get("cacheCreationInputTokens")) or 0,
        cost=cost,
    )


#: Roo's Glama lookup: ``https://glama.ai/api/gateway/v1/completion-requests/{id}``, the id
#: from ``x-completion-request-id``, 10 attempts 200 ms apart.
GLAMA_USAGE = UsageLookup(
    "{origin}/api/gateway/v1/completion-requests/{id}", "x-completion-request-id", parse_glama_usage
)


# -- request hooks -----------------------------------------------------------------------------------
def _option_str(request: ChatRequest, key: str, who: str) -> Optional[str]:
    value = request.options.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{who}: request option {key!r} must be a non-empty string")
    return value


def _openrouter_hook(provider: CompatProvider, request: ChatRequest, body: dict[str, Any]) -> None:
    routing = provider.provider_routing
    if isinstance(routing, str):
        # Roo pins one provider: order, only, and no fallbacks.
        body["provider"] = {"order": [routing], "only": [routing], "allow_fallbacks": False}
    elif routing is not None:
        body["provider"] = dict(routing)
    if provider.middle_out:
        body["transforms"] = ["middle-out"]
    reasoning: Optional[Mapping[str, Any]] = None
    override = request.options.get("reasoning")
    if override is not None:
        if not isinstance(override, Mapping):
            raise ConfigurationError(f"{provider.name}: request option 'reasoning' must be a mapping")
        reasoning = cast(Mapping[str, Any], override)
    elif request.thinking_budget is not None:
        reasoning = {"max_tokens": request.thinking_budget}
    elif request.reasoning_effort is not None:
        reasoning = {"effort": request.reasoning_effort}
    elif request.model in ("google/gemini-2.5-pro-preview", "google/gemini-2.5-pro"):
        # Roo: OpenRouter streams these models' reasoning unless told not to.
        reasoning = {"exclude": True}
    if reasoning is not None:
        body["reasoning"] = dict(reasoning)
    if request.thinking_budget is not None and request.temperature is None and "temperature" in body:
        # Roo's getModelParams: budget ("hybrid") reasoning runs at temperature 1.0.
        body["temperature"] = 1.0
    if provider.usage_include:
        body["usage"] = {"include": True}


def _requesty_hook(provider: CompatProvider, request: ChatRequest, body: dict[str, Any]) -> None:
    if request.reasoning_effort is not None and request.reasoning_effort != "minimal":
        body["reasoning_effort"] = request.reasoning_effort
    if request.thinking_budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
        if request.temperature is None and "temperature" in body:
            body["temperature"] = 1.0
    metadata: dict[str, Any] = {}
    task = _option_str(request, "task_id", provider.name)
    if task is not None:
        metadata["trace_id"] = task
    mode = _option_str(request, "mode", provider.name)
    metadata["extra"] = {"mode": mode} if mode is not None else {}
    body["requesty"] = metadata


def _unbound_hook(provider: CompatProvider, request: ChatRequest, body: dict[str, Any]) -> None:
    metadata: dict[str, Any] = {"originApp": provider.app_title}
    task = _option_str(request, "task_id", provider.name)
    if task is not None:
        metadata["taskId"] = task
    mode = _option_str(request, "mode", provider.name)
    if mode is not None:
        metadata["mode"] = mode
    body["unbound_metadata"] = metadata


def _deepinfra_hook(provider: CompatProvider, request: ChatRequest, body: dict[str, Any]) -> None:
    task = _option_str(request, "task_id", provider.name)
    if task is not None:
        body["prompt_cache_key"] = task


def _lmstudio_hook(provider: CompatProvider, request: ChatRequest, body: dict[str, Any]) -> None:
    if provider.draft_model:
        body["draft_model"] = provider.draft_model


def _huggingface_hook(provider: CompatProvider, request: ChatRequest, body: dict[str, Any]) -> None:
    suffix = provider.inference_provider
    if suffix and ":" not in str(body.get("model", "")):
        body["model"] = f"{body['model']}:{suffix}"


# -- the adapter ---------------------------------------------------------------------------------------
class _ProfileDefault(enum.Enum):
    TOKEN = 0


#: Marks "use the profile's value" for :class:`CompatProvider` arguments.
PROFILE_DEFAULT = _ProfileDefault.TOKEN

_BOUND: dict[str, type[CompatProvider]] = {}

# Which constructor options exist, and their neutral values (for the applicability check).
_OPTION_NAMES = (
    "app_url",
    "app_title",
    "provider_routing",
    "middle_out",
    "usage_include",
    "prompt_cache",
    "draft_model",
    "inference_provider",
)


class CompatProvider(OpenAIProvider):
    """An OpenAI-compatible provider run by a :class:`Profile` (see the module docs).

    ``CompatProvider("deepseek", api_key=...)`` (or a :class:`Profile`) returns an
    instance of the profile's bound subclass, whose class attributes (``name``,
    ``capabilities``, env vars, default base URL) are the profile's.

    Args:
        profile: a profile or the name of one in :data:`PROFILES`.
        api_key: the key (default: the profile's ``api_key_env``).
        base_url: the API root (default: ``region``, the profile's ``base_url_env``,
            the profile's default).
        region: a named base URL of the profile (``zai``: ``international_coding``,
            ``international``, ``china_coding``, ``china``; ``moonshot``: ``international``,
            ``china``; ``doubao``: ``cn-beijing``, ``byteplus``; ``mistral``: ``default``,
            ``codestral``).
        default_temperature: temperature sent when the request sets none (default: the
            profile's and its model rules'; ``None`` sends none).
        app_url, app_title: ``HTTP-Referer`` / ``X-Title`` values (and the app label of
            Glama's and Unbound's metadata).
        provider_routing: OpenRouter only — a provider name to pin (``{order, only,
            allow_fallbacks: false}``, as Roo) or the whole ``provider`` object.
        middle_out: OpenRouter only — send ``transforms: ["middle-out"]`` (default true).
        usage_include: OpenRouter only — send ``usage: {include: true}`` (default true).
        prompt_cache: LiteLLM only — add cache breakpoints (Roo's ``litellmUsePromptCache``).
        draft_model: LM Studio only — speculative-decoding draft model.
        inference_provider: Hugging Face only — appended to the model id as ``:<provider>``.
        timeouts, headers, http_client, coalesce: as for :class:`~tokenwire.providers.base.Provider`.
    """

    profile: ClassVar[Profile]
    name: ClassVar[str] = "openai-compatible"
    organization_env: ClassVar[tuple[str, ...]] = ()
    project_env: ClassVar[tuple[str, ...]] = ()

    # __new__ picks the profile's bound subclass; __init__ takes the options.
    def __new__(cls, profile: Union[Profile, str, None] = None, **options: Any) -> CompatProvider:
        target = CompatProvider.bind(profile) if profile is not None else cls
        if "profile" not in target.__dict__:
            raise TypeError("CompatProvider needs a profile (a Profile or the name of one in PROFILES)")
        return cast(CompatProvider, object.__new__(target))

    def __init__(  # pyright: ignore[reportInconsistentConstructor]
        self,
        profile: Union[Profile, str, None] = None,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        region: Optional[str] = None,
        default_temperature: Union[float, _ProfileDefault, None] = PROFILE_DEFAULT,
        app_url: str = DEFAULT_APP_URL,
        app_title: str = DEFAULT_APP_TITLE,
        provider_routing: Union[str, Mapping[str, Any], None] = None,
        middle_out: bool = True,
        usage_include: bool = True,
        prompt_cache: bool = False,
        draft_model: Optional[str] = None,
        inference_provider: Optional[str] = None,
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        bound = self.profile
        if profile is not None and _resolve(profile) != bound:
            raise ConfigurationError(f"{bound.name}: conflicting profile argument {profile!r}")
        given = {
            "app_url": app_url != DEFAULT_APP_URL,
            "app_title": app_title != DEFAULT_APP_TITLE,
            "provider_routing": provider_routing is not None,
            "middle_out": middle_out is not True,
            "usage_include": usage_include is not True,
            "prompt_cache": prompt_cache,
            "draft_model": draft_model is not None,
            "inference_provider": inference_provider is not None,
        }
        for option in _OPTION_NAMES:
            if given[option] and option not in bound.options:
                raise ConfigurationError(f"{bound.name}: option {option!r} does not apply to this provider")
        if region is not None and not base_url:
            base_url = bound.region_url(region)
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            api="chat",
            reasoning_summary=False,
            default_temperature=(
                bound.default_temperature if isinstance(default_temperature, _ProfileDefault) else default_temperature
            ),
            timeouts=timeouts,
            headers=headers,
            http_client=http_client,
            coalesce=coalesce,
        )
        self._temperature_overridden = not isinstance(default_temperature, _ProfileDefault)
        self.region = region
        self.app_url = app_url
        self.app_title = app_title
        self.provider_routing = provider_routing
        self.middle_out = middle_out
        self.usage_include = usage_include
        self.prompt_cache = prompt_cache
        self.draft_model = draft_model
        self.inference_provider = inference_provider

    # -- binding -------------------------------------------------------------------------------
    @staticmethod
    def bind(profile: Union[Profile, str]) -> type[CompatProvider]:
        """The subclass of :class:`CompatProvider` for ``profile`` (created once per profile)."""
        resolved = _resolve(profile)
        cached = _BOUND.get(resolved.name)
        if cached is not None and cached.profile == resolved:
            return cached
        letters = re.sub(r"[^0-9A-Za-z]", "", resolved.title) or "Compat"
        class_name = letters[0].upper() + letters[1:] + "Provider"
        namespace: dict[str, Any] = {
            "profile": resolved,
            "name": resolved.name,
            "capabilities": resolved.capabilities,
            "api_key_env": resolved.api_key_env,
            "base_url_env": resolved.base_url_env,
            "default_base_url": resolved.base_url,
            "requires_api_key": resolved.auth == "bearer" and resolved.placeholder_key is None,
            "max_tokens_field": resolved.max_tokens_field,
            "__doc__": f"{resolved.title} (OpenAI-compatible profile {resolved.name!r}).",
            "__module__": __name__,
        }
        bound = cast(type[CompatProvider], type(class_name, (CompatProvider,), namespace))
        _BOUND[resolved.name] = bound
        return bound

    # -- configuration -------------------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        profile = self.profile
        key = self.api_key
        if profile.auth == "none" and not key:
            return {}
        if not key and profile.placeholder_key is not None:
            key = profile.placeholder_key
        if not key:
            key = self.require_api_key()
        return {"Authorization": f"Bearer {key}"}

    def _secrets(self) -> tuple[Optional[str], ...]:
        return (self.api_key,)

    def _profile_headers(self, request: Optional[ChatRequest]) -> dict[str, str]:
        profile = self.profile
        headers: dict[str, str] = {}
        if profile.attribution:
            headers["HTTP-Referer"] = self.app_url
            headers["X-Title"] = self.app_title
        headers.update(profile.headers)
        for name in profile.app_title_headers:
            headers[name] = self.app_title
        if profile.metadata_header:
            label = self.app_title.replace("\\", "\\\\").replace('"', '\\"')
            headers[profile.metadata_header] = f'{{"labels":[{{"key":"app","value":"{label}"}}]}}'
        if request is not None and profile.task_header:
            task = _option_str(request, "task_id", self.name)
            if task is not None:
                headers[profile.task_header] = task
        return headers

    def _base_headers(self, *, stream: bool, body: bool) -> dict[str, str]:
        base = self._auth_headers()
        base["User-Agent"] = f"tokenwire/{__version__}"
        base["Accept"] = "text/event-stream" if stream else "application/json"
        if body:
            base["Content-Type"] = "application/json"
        return base

    def _headers(self, extra: Mapping[str, str], *, stream: bool, body: bool = True) -> dict[str, str]:
        return merge_headers(
            self._base_headers(stream=stream, body=body), self._profile_headers(None), self.extra_headers, extra
        )

    def _explicit_base_url(self) -> bool:
        return bool(self._base_url_arg) or any(os.environ.get(v) for v in self.base_url_env)

    def _url(self, path: str, model: str) -> tuple[str, dict[str, str]]:
        base = self.base_url
        if model and not self._explicit_base_url():
            region = self.settings(model).region
            if region is not None:
                base = self.profile.region_url(region).rstrip("/")
        return f"{base}{path}", {}

    def _stream_usage(self) -> bool:
        return self.profile.stream_usage

    def resolve_api(self, request: Union[ChatRequest, CompletionRequest]) -> Literal["chat", "responses"]:
        raw = request.options.get("api")
        if raw is not None and raw != "chat":
            raise ConfigurationError(f"{self.name}: only Chat Completions is supported (request option api={raw!r})")
        return "chat"

    def completion_api(self, request: CompletionRequest) -> Literal["completions", "chat", "responses"]:
        self.resolve_api(request)
        return "chat"

    def settings(self, model: str) -> _Settings:
        """The profile's settings for ``model`` after its model rules."""
        profile = self.profile
        temperature = self.default_temperature
        omit = False
        top_p: Optional[float] = None
        r1 = False
        think = profile.think_tags
        field_name = profile.max_tokens_field
        cache: Optional[CacheStyle] = None
        region: Optional[str] = None
        for rule in profile.rules:
            if not rule.matches(model):
                continue
            if rule.temperature is not None and not self._temperature_overridden:
                temperature = rule.temperature
            omit = omit or rule.omit_temperature
            top_p = rule.top_p if rule.top_p is not None else top_p
            r1 = r1 or rule.r1_format
            think = think or rule.think_tags
            field_name = rule.max_tokens_field or field_name
            cache = rule.cache or cache
            region = rule.region or region
        if profile.name == "litellm" and self.prompt_cache:
            cache = "litellm"
        return _Settings(temperature, omit, top_p, r1, think, field_name, cache, region)

    def wire_model(self, model: str) -> str:
        """The model id as sent (aliases, Unbound's vendor prefix)."""
        model = self.profile.model_aliases.get(model, model)
        if self.profile.strip_vendor_prefix and "/" in model:
            model = model.split("/", 1)[1]
        return model

    # -- request building ----------------------------------------------------------------------
    def build_messages(self, request: ChatRequest, settings: Optional[_Settings] = None) -> list[dict[str, Any]]:
        """The ``messages`` array after the profile's transforms."""
        settings = settings or self.settings(request.model)
        profile = self.profile
        messages = chat_messages(request)
        if settings.r1_format:
            return _r1_messages(messages)
        if profile.messages == "simple":
            messages = _simple_messages(messages)
        elif profile.messages == "cerebras":
            messages = _cerebras_messages(messages)
        elif profile.messages == "mistral":
            messages = _mistral_messages(messages)
        if profile.alternate_roles:
            messages = merge_same_roles(messages, normalize=False)
        if settings.cache is not None:
            _add_cache(settings.cache, messages)
        return messages

    def build_chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body of a Chat Completions request for this profile."""
        profile = self.profile
        settings = self.settings(request.model)
        body: dict[str, Any] = {"model": self.wire_model(request.model)}
        if not settings.omit_temperature:
            temperature = request.temperature if request.temperature is not None else settings.temperature
            if profile.omit_default_temperature and temperature == profile.default_temperature:
                temperature = None
            if temperature is not None and profile.temperature_range is not None:
                low, high = profile.temperature_range
                temperature = max(low, min(high, temperature))
            if temperature is not None:
                body["temperature"] = temperature
        body["messages"] = self.build_messages(request, settings)
        if stream:
            body["stream"] = True
            if profile.stream_usage:
                body["stream_options"] = {"include_usage": True}
        if profile.reasoning_effort and request.reasoning_effort not in (None, "minimal"):
            body["reasoning_effort"] = request.reasoning_effort
        limit = request.max_tokens
        if limit is not None and (profile.max_tokens_limit is None or 0 < limit <= profile.max_tokens_limit):
            body[settings.max_tokens_field] = limit
        top_p = request.top_p if request.top_p is not None else settings.top_p
        if top_p is not None and not settings.omit_temperature:
            body["top_p"] = top_p
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
        if profile.hook is not None:
            profile.hook(self, request, body)
        for key, value in request.extra_body.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    def stream_options_for(self, model: str) -> dict[str, Any]:
        """The dialect options of a stream for ``model`` (``think_tags`` where it applies)."""
        if self.settings(model).think_tags:
            return {"think_tags": True}
        return {}

    def _chat_call(
        self, body: dict[str, Any], request: Union[ChatRequest, CompletionRequest], *, stream: bool
    ) -> HttpCall:
        url, params = self._url("/chat/completions", request.model)
        chat = request if isinstance(request, ChatRequest) else request.as_chat()
        headers = merge_headers(
            self._base_headers(stream=stream, body=True),
            self._profile_headers(chat),
            self.extra_headers,
            request.extra_headers,
        )
        return HttpCall(
            method="POST",
            url=url,
            headers=headers,
            json=body,
            params=params,
            dialect="openai-chat" if stream else None,
            model=request.model,
            timeout=request.timeout,
            stream_options=self.stream_options_for(request.model) if stream else {},
        )

    def build_completion_body(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        """A completion as Roo's ``completePrompt``: the chat body of one user message."""
        return self.build_chat_body(request.as_chat(), stream=stream)

    def build_models_call(self) -> Optional[HttpCall]:
        listing = self.profile.models
        if listing is None:
            return None
        base = self.base_url
        parts = urlsplit(base)
        url = listing.url.format(base=base, origin=f"{parts.scheme}://{parts.netloc}")
        return HttpCall(method="GET", url=url, headers=self._headers({}, stream=False, body=False))

    # -- parsing -------------------------------------------------------------------------------
    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        body = self._check_body(data, model=model, request_id=request_id)
        body = _flatten_content_parts(body)
        answer = super().parse_chat_response(body, model=model, request_id=request_id)
        # The stream's rules, run by the same dialect, so chat() and chat_stream() agree.
        usage = chat_body_usage(body)
        if usage != answer.usage:
            answer = replace(answer, usage=usage)
        if self.stream_options_for(model).get("think_tags") and "<think>" in answer.text:
            thought, text = split_think(answer.text)
            answer = replace(answer, text=text, reasoning=answer.reasoning + thought)
        return answer

    def parse_models(self, data: Any) -> list[ModelInfo]:
        listing = self.profile.models
        return listing.parse(data, self.name) if listing is not None else []

    # -- answers and the profile's usage lookup ------------------------------------------------
    def _stream(self, call: HttpCall) -> ChatStream:
        if self.profile.usage_lookup is not None:
            return UsageLookupStream(self, call, coalesce=self.coalesce)
        return ChatStream(self, call, coalesce=self.coalesce)

    def chat_stream(self, request: ChatRequest) -> ChatStream:
        return self._stream(self.build_chat_call(request, stream=True))

    def complete_stream(self, request: CompletionRequest) -> ChatStream:
        call = self.build_completion_call(request, stream=True)
        return self._stream(call if call is not None else self.build_chat_call(request.as_chat(), stream=True))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if self.profile.usage_lookup is None:
            return await super().chat(request)
        call = self.build_chat_call(request, stream=False)
        response = await self.send(call)
        data = _json_or_error(self, response, call)
        answer = self.parse_chat_response(data, model=request.model, request_id=request_id_from(response.headers))
        usage = await self.lookup_usage(response.headers, timeout=call.timeout)
        return replace(answer, usage=usage) if usage is not None else answer

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        if self.profile.usage_lookup is None:
            return await super().complete(request)
        # The same request as build_completion_call's (Roo's completePrompt is a one-message chat).
        answer = await self.chat(request.as_chat())
        return CompletionResponse.from_chat(answer)

    async def lookup_usage(self, headers: Mapping[str, str], *, timeout: Optional[float] = None) -> Optional[Usage]:
        """The usage the profile's :class:`UsageLookup` reports for the response whose
        headers are ``headers`` (see :class:`UsageLookup`; names are matched without
        regard to case).

        ``None`` when the profile has no lookup, the response named no record, or the
        lookup failed or ran out of time (``timeout``, else the provider's total timeout);
        failures are logged at debug level, never raised.
        """
        lookup = self.profile.usage_lookup
        if lookup is None:
            return None
        record = httpx.Headers(headers).get(lookup.id_header, "").strip()
        if not record:
            return None
        parts = urlsplit(self.base_url)
        url = lookup.url.format(
            base=self.base_url, origin=f"{parts.scheme}://{parts.netloc}", id=quote(record, safe="")
        )
        call = HttpCall(
            method="GET",
            url=url,
            headers=merge_headers(self._base_headers(stream=False, body=False), self.extra_headers),
        )
        limit = timeout if timeout is not None else self.timeouts.total
        with anyio.move_on_after(limit):
            for attempt in range(lookup.attempts):
                if attempt:
                    await anyio.sleep(lookup.delay)
                try:
                    data = await self.send_json(call)
                except TokenwireError as exc:
                    _log.debug("%s: usage lookup of %s failed: %s", self.name, record, exc)
                    return None
                usage = lookup.parse(data)
                if usage is not None:
                    return usage
            _log.debug("%s: usage of %s not settled after %d lookups", self.name, record, lookup.attempts)
            return None
        _log.debug("%s: usage lookup of %s timed out after %ss", self.name, record, limit)
        return None


class UsageLookupStream(ChatStream):
    """The stream of a profile with a :class:`UsageLookup`: its ``Usage`` token comes last,
    from the lookup made when the stream ends (the stream's own usage when that fails).

    The stream's own ``Usage`` (normally at its terminal event) is held back until the
    end. A failure after it (a connection cut) still delivers it first, then raises.
    """

    def __init__(self, provider: CompatProvider, call: HttpCall, *, coalesce: bool = True) -> None:
        super().__init__(provider, call, coalesce=coalesce)
        self._compat = provider
        self._held: Optional[Usage] = None
        self._looked_up = False
        self._deferred: Optional[TokenwireError] = None

    async def _fill(self) -> None:
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error
        while not self._pending:
            try:
                await super()._fill()
            except StopAsyncIteration:
                if self._looked_up or not self._finished:
                    raise
                self._looked_up = True
                found = await self._compat.lookup_usage(self.headers, timeout=self._call.timeout)
                usage = found if found is not None else self._held
                self._held = None
                if usage is None:
                    raise
                self._pending.append(usage)
                return
            except TokenwireError as exc:
                if self._held is None:
                    raise
                # Nothing already decoded is lost: the usage first, the error next.
                self._pending.append(self._held)
                self._held = None
                self._deferred = exc
                return
            self._hold_usage()

    def _hold_usage(self) -> None:
        pending = self._pending
        if not any(token.kind == "usage" for token in pending):
            return
        kept = [token for token in pending if token.kind != "usage"]
        self._held = cast(Usage, next(token for token in reversed(pending) if token.kind == "usage"))
        pending.clear()
        pending.extend(kept)


def _flatten_content_parts(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """Mistral answers may carry ``content`` as parts (``text`` and ``thinking`` chunks):
    fold them into ``content`` and ``reasoning_content`` strings."""
    choices: Any = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return body
    first: Any = choices[0]
    message: Any = first.get("message") if isinstance(first, Mapping) else None
    content: Any = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, list):
        return body
    text: list[str] = []
    thinking: list[str] = []
    part: Any
    for part in content:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            text.append(part["text"])
        elif part.get("type") == "thinking" and isinstance(part.get("thinking"), list):
            piece: Any
            for piece in part["thinking"]:
                if isinstance(piece, Mapping) and isinstance(piece.get("text"), str):
                    thinking.append(piece["text"])
    new_message: dict[str, Any] = {**message, "content": "".join(text)}
    if thinking:
        new_message["reasoning_content"] = "".join(thinking)
    return {**body, "choices": [{**first, "message": new_message}, *choices[1:]]}


# -- the profiles -----------------------------------------------------------------------------------
_CHAT = ProviderCapabilities(streaming=True, tools=True, images=True, list_models=True)
_CHAT_NO_LIST = replace(_CHAT, list_models=False)
_REASONING = replace(_CHAT, reasoning=True)
_GATEWAY = replace(_CHAT, reasoning=True, prompt_cache=True)
_DEEPSEEK_R1 = ModelRule(contains=("DeepSeek-R1",), temperature=0.6, r1_format=True, think_tags=True)
_NO_O3_MINI_TEMPERATURE = ModelRule(prefixes=("openai/o3-mini",), omit_temperature=True)

#: Roo's ``OPEN_ROUTER_PROMPT_CACHING_MODELS`` (packages/types/src/providers/openrouter.ts).
OPENROUTER_CACHE_MODELS: frozenset[str] = frozenset(
    {
        "anthropic/claude-3-haiku",
        "anthropic/claude-3-haiku:beta",
        "anthropic/claude-3-opus",
        "anthropic/claude-3-opus:beta",
        "anthropic/claude-3-sonnet",
        "anthropic/claude-3-sonnet:beta",
        "anthropic/claude-3.5-haiku",
        "anthropic/claude-3.5-haiku-20241022",
        "anthropic/claude-3.5-haiku-20241022:beta",
        "anthropic/claude-3.5-haiku:beta",
        "anthropic/claude-3.5-sonnet",
        "anthropic/claude-3.5-sonnet-20240620",
        "anthropic/claude-3.5-sonnet-20240620:beta",
        "anthropic/claude-3.5-sonnet:beta",
        "anthropic/claude-3.7-sonnet",
        "anthropic/claude-3.7-sonnet:beta",
        "anthropic/claude-3.7-sonnet:thinking",
        "anthropic/claude-sonnet-4",
        "anthropic/claude-sonnet-4.5",
        "anthropic/claude-opus-4",
        "anthropic/claude-opus-4.1",
        "google/gemini-2.5-flash-preview",
        "google/gemini-2.5-flash-preview:thinking",
        "google/gemini-2.5-flash-preview-05-20",
        "google/gemini-2.5-flash-preview-05-20:thinking",
        "google/gemini-2.5-flash",
        "google/gemini-2.5-flash-lite-preview-06-17",
        "google/gemini-2.0-flash-001",
        "google/gemini-flash-1.5",
        "google/gemini-flash-1.5-8b",
    }
)

#: Roo's ``VERCEL_AI_GATEWAY_PROMPT_CACHING_MODELS`` (packages/types/src/providers/vercel-ai-gateway.ts).
VERCEL_CACHE_MODELS: frozenset[str] = frozenset(
    {
        "anthropic/claude-3-haiku",
        "anthropic/claude-3-opus",
        "anthropic/claude-3.5-haiku",
        "anthropic/claude-3.5-sonnet",
        "anthropic/claude-3.7-sonnet",
        "anthropic/claude-opus-4",
        "anthropic/claude-opus-4.1",
        "anthropic/claude-sonnet-4",
        "openai/gpt-4.1",
        "openai/gpt-4.1-mini",
        "openai/gpt-4.1-nano",
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "openai/gpt-5",
        "openai/gpt-5-mini",
        "openai/gpt-5-nano",
        "openai/o1",
        "openai/o3",
        "openai/o3-mini",
        "openai/o4-mini",
    }
)

_ZAI_LINES: Mapping[str, str] = {
    # Roo's zaiApiLineConfigs (packages/types/src/providers/zai.ts).
    "international_coding": "https://api.z.ai/api/coding/paas/v4",
    "international": "https://api.z.ai/api/paas/v4",
    "china_coding": "https://open.bigmodel.cn/api/coding/paas/v4",
    "china": "https://open.bigmodel.cn/api/paas/v4",
}


def _env(prefix: str, *extra: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (f"{prefix}_API_KEY", *extra), (f"{prefix}_BASE_URL",)


def _profile(
    name: str, title: str, base_url: str, env: tuple[tuple[str, ...], tuple[str, ...]], **fields: Any
) -> Profile:
    api_key_env, base_url_env = env
    return Profile(
        name=name, title=title, base_url=base_url, api_key_env=api_key_env, base_url_env=base_url_env, **fields
    )


_PROFILE_LIST: tuple[Profile, ...] = (
    _profile(
        "openrouter",
        "OpenRouter",
        "https://openrouter.ai/api/v1",
        _env("OPENROUTER"),
        hook=_openrouter_hook,
        rules=(
            ModelRule(
                prefixes=("deepseek/deepseek-r1",),
                exact=("perplexity/sonar-reasoning",),
                temperature=0.6,
                top_p=0.95,
                r1_format=True,
            ),
            ModelRule(exact=("openai/o1-pro",), omit_temperature=True),
            ModelRule(
                exact=tuple(sorted(m for m in OPENROUTER_CACHE_MODELS if not m.startswith("google"))), cache="anthropic"
            ),
            ModelRule(
                exact=tuple(sorted(m for m in OPENROUTER_CACHE_MODELS if m.startswith("google"))), cache="gemini"
            ),
        ),
        models=ModelList("{base}/models", parse_openrouter_models),
        options=frozenset({"app_url", "app_title", "provider_routing", "middle_out", "usage_include"}),
        capabilities=_GATEWAY,
        quirks="provider routing, middle-out, reasoning, usage include (cost), cache breakpoints",
    ),
    _profile(
        "requesty",
        "Requesty",
        "https://router.requesty.ai/v1",
        _env("REQUESTY"),
        hook=_requesty_hook,
        models=ModelList("{base}/models", parse_requesty_models),
        options=frozenset({"app_url", "app_title"}),
        capabilities=_GATEWAY,
        quirks="requesty metadata (trace_id, mode), reasoning_effort, Anthropic-style thinking",
    ),
    _profile(
        "glama",
        "Glama",
        "https://glama.ai/api/gateway/openai/v1",
        _env("GLAMA"),
        metadata_header="X-Glama-Metadata",
        stream_usage=False,
        rules=(ModelRule(prefixes=("anthropic/claude-3",), cache="anthropic"), _NO_O3_MINI_TEMPERATURE),
        models=ModelList("{origin}/api/gateway/v1/models", parse_glama_models),
        usage_lookup=GLAMA_USAGE,
        options=frozenset({"app_url", "app_title"}),
        capabilities=_GATEWAY,
        quirks="X-Glama-Metadata; no stream_options; anthropic/claude-3* cache breakpoints; usage lookup",
    ),
    _profile(
        "unbound",
        "Unbound",
        "https://api.getunbound.ai/v1",
        _env("UNBOUND"),
        metadata_header="X-Unbound-Metadata",
        stream_usage=False,
        strip_vendor_prefix=True,
        hook=_unbound_hook,
        rules=(
            ModelRule(prefixes=("anthropic/",), cache="anthropic"),
            ModelRule(prefixes=("google/",), cache="gemini"),
            _NO_O3_MINI_TEMPERATURE,
        ),
        models=ModelList("{origin}/models", parse_unbound_models),
        options=frozenset({"app_url", "app_title"}),
        capabilities=_GATEWAY,
        quirks="X-Unbound-Metadata + unbound_metadata; vendor prefix stripped from the model",
    ),
    _profile(
        "litellm",
        "LiteLLM",
        "http://localhost:4000",
        _env("LITELLM"),
        placeholder_key="dummy-key",
        rules=(
            ModelRule(pattern=r"(?i)\bgpt-?5(?!\d)", max_tokens_field="max_completion_tokens"),
            _NO_O3_MINI_TEMPERATURE,
        ),
        models=ModelList("{base}/v1/model/info", parse_litellm_models),
        options=frozenset({"app_url", "app_title", "prompt_cache"}),
        capabilities=_GATEWAY,
        quirks="local proxy (key optional); /v1/model/info; GPT-5 → max_completion_tokens; prompt_cache",
    ),
    _profile(
        "roo",
        "Roo Code Cloud",
        "https://api.roocode.com/proxy/v1",
        (("ROO_CODE_API_KEY",), ("ROO_CODE_PROVIDER_URL",)),
        default_temperature=0.7,
        task_header="X-Roo-Task-ID",
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=_REASONING,
        quirks="X-Roo-Task-ID per task; reasoning_content",
    ),
    _profile(
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com",
        _env("DEEPSEEK"),
        max_tokens_field="max_completion_tokens",
        reasoning_effort=True,
        think_tags=True,
        rules=(
            ModelRule(contains=("deepseek-reasoner",), temperature=0.6, r1_format=True),
            ModelRule(every_model=True, cache="openai"),
        ),
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=replace(_REASONING, images=False, prompt_cache=True),
        quirks="deepseek-reasoner: R1 merge + temperature 0.6; cache-hit/miss usage",
    ),
    _profile(
        "moonshot",
        "Moonshot",
        "https://api.moonshot.ai/v1",
        _env("MOONSHOT"),
        regions={"international": "https://api.moonshot.ai/v1", "china": "https://api.moonshot.cn/v1"},
        reasoning_effort=True,
        think_tags=True,
        rules=(ModelRule(every_model=True, cache="openai"),),
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=replace(_REASONING, prompt_cache=True),
        quirks="always max_tokens; top-level cached_tokens usage",
    ),
    _profile(
        "xai",
        "xAI",
        "https://api.x.ai/v1",
        _env("XAI"),
        reasoning_effort=True,
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=replace(_REASONING, prompt_cache=True),
        quirks="reasoning_content; reasoning_effort (grok-3-mini)",
    ),
    _profile(
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        _env("GROQ"),
        default_temperature=0.5,
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=_REASONING,
        quirks="usage under x_groq",
    ),
    _profile(
        "mistral",
        "Mistral",
        "https://api.mistral.ai/v1",
        _env("MISTRAL"),
        regions={"default": "https://api.mistral.ai/v1", "codestral": "https://codestral.mistral.ai/v1"},
        attribution=False,
        stream_usage=False,
        messages="mistral",
        rules=(ModelRule(prefixes=("codestral-",), region="codestral"),),
        models=_OPENAI_MODELS,
        capabilities=_REASONING,
        quirks="codestral-* on codestral.mistral.ai; Mistral message rules; no stream_options",
    ),
    _profile(
        "cerebras",
        "Cerebras",
        "https://api.cerebras.ai/v1",
        _env("CEREBRAS"),
        max_tokens_field="max_completion_tokens",
        max_tokens_limit=32_768,
        stream_usage=False,
        omit_default_temperature=True,
        temperature_range=(0.0, 1.5),
        messages="cerebras",
        think_tags=True,
        model_aliases={"qwen-3-coder-480b-free": "qwen-3-coder-480b"},
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=replace(_REASONING, images=False),
        quirks="string contents, <think> stripped from history, temperature clamped to [0, 1.5]",
    ),
    _profile(
        "chutes",
        "Chutes",
        "https://llm.chutes.ai/v1",
        _env("CHUTES"),
        default_temperature=0.5,
        rules=(_DEEPSEEK_R1,),
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=_REASONING,
        quirks="DeepSeek-R1: R1 merge, <think> split, temperature 0.6",
    ),
    _profile(
        "deepinfra",
        "DeepInfra",
        "https://api.deepinfra.com/v1/openai",
        _env("DEEPINFRA", "DEEPINFRA_TOKEN"),
        headers={"X-Deepinfra-Version": "2025-08-25"},
        app_title_headers=("X-Deepinfra-Source",),
        max_tokens_field="max_completion_tokens",
        reasoning_effort=True,
        hook=_deepinfra_hook,
        rules=(_NO_O3_MINI_TEMPERATURE,),
        models=ModelList("{base}/models", parse_deepinfra_models),
        options=frozenset({"app_url", "app_title"}),
        capabilities=_GATEWAY,
        quirks="X-Deepinfra-Source/Version; prompt_cache_key = task id",
    ),
    _profile(
        "doubao",
        "Doubao",
        "https://ark.cn-beijing.volces.com/api/v3",
        _env("DOUBAO", "ARK_API_KEY"),
        regions={
            "cn-beijing": "https://ark.cn-beijing.volces.com/api/v3",
            "byteplus": "https://ark.ap-southeast.bytepluses.com/api/v3",
        },
        max_tokens_field="max_completion_tokens",
        reasoning_effort=True,
        think_tags=True,
        messages="simple",
        options=frozenset({"app_url", "app_title"}),
        capabilities=replace(_REASONING, list_models=False),
        quirks="plain-text contents (Roo's ark path); BytePlus line",
    ),
    _profile(
        "featherless",
        "Featherless",
        "https://api.featherless.ai/v1",
        _env("FEATHERLESS"),
        default_temperature=0.5,
        rules=(_DEEPSEEK_R1,),
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=_REASONING,
        quirks="DeepSeek-R1: R1 merge, <think> split, temperature 0.6",
    ),
    _profile(
        "fireworks",
        "Fireworks",
        "https://api.fireworks.ai/inference/v1",
        _env("FIREWORKS"),
        default_temperature=0.5,
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=_REASONING,
        quirks="plain",
    ),
    _profile(
        "huggingface",
        "HuggingFace",
        "https://router.huggingface.co/v1",
        (("HUGGINGFACE_API_KEY", "HF_TOKEN"), ("HUGGINGFACE_BASE_URL",)),
        default_temperature=0.7,
        hook=_huggingface_hook,
        models=ModelList("{base}/models", parse_huggingface_models),
        options=frozenset({"app_url", "app_title", "inference_provider"}),
        capabilities=_REASONING,
        quirks="model:provider suffix (inference_provider=)",
    ),
    _profile(
        "io-intelligence",
        "IO Intelligence",
        "https://api.intelligence.io.solutions/api/v1",
        _env("IO_INTELLIGENCE"),
        default_temperature=0.7,
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=_REASONING,
        quirks="plain",
    ),
    _profile(
        "sambanova",
        "SambaNova",
        "https://api.sambanova.ai/v1",
        _env("SAMBANOVA"),
        default_temperature=0.7,
        models=_OPENAI_MODELS,
        options=frozenset({"app_url", "app_title"}),
        capabilities=_REASONING,
        quirks="plain",
    ),
    _profile(
        "zai",
        "Z AI",
        _ZAI_LINES["international_coding"],
        _env("ZAI"),
        regions=_ZAI_LINES,
        options=frozenset({"app_url", "app_title"}),
        capabilities=replace(_REASONING, list_models=False),
        quirks="four API lines (international/China, coding/standard)",
    ),
    _profile(
        "perplexity",
        "Perplexity",
        "https://api.perplexity.ai",
        _env("PERPLEXITY", "PPLX_API_KEY"),
        attribution=False,
        stream_usage=False,
        default_temperature=None,
        alternate_roles=True,
        capabilities=replace(_CHAT_NO_LIST, tools=False, reasoning=True),
        quirks="alternating roles; citations and search_results → Citation tokens",
    ),
    _profile(
        "lmstudio",
        "LM Studio",
        "http://localhost:1234/v1",
        (("LMSTUDIO_API_KEY",), ("LMSTUDIO_BASE_URL",)),
        placeholder_key="noop",
        attribution=False,
        stream_usage=False,
        think_tags=True,
        hook=_lmstudio_hook,
        models=_OPENAI_MODELS,
        options=frozenset({"draft_model"}),
        capabilities=_REASONING,
        quirks="local, no key (noop); <think> split; draft_model",
    ),
    _profile(
        "vercel-ai-gateway",
        "Vercel AI Gateway",
        "https://ai-gateway.vercel.sh/v1",
        _env("VERCEL_AI_GATEWAY", "AI_GATEWAY_API_KEY"),
        default_temperature=0.7,
        max_tokens_field="max_completion_tokens",
        stream_usage=False,
        rules=(ModelRule(exact=tuple(sorted(VERCEL_CACHE_MODELS)), cache="vercel"), _NO_O3_MINI_TEMPERATURE),
        models=ModelList("{base}/models", parse_vercel_models),
        options=frozenset({"app_url", "app_title"}),
        capabilities=_GATEWAY,
        quirks="max_completion_tokens; message-level cache_control",
    ),
)

#: Every OpenAI-compatible profile, by registry name.
PROFILES: Mapping[str, Profile] = {p.name: p for p in _PROFILE_LIST}

#: The seed's spellings of Roo's names.
ALIASES: Mapping[str, str] = {"lite-llm": "litellm", "lm-studio": "lmstudio"}


def get_profile(name: str) -> Profile:
    """The profile named ``name`` (Roo's name, or ``lite-llm`` / ``lm-studio``)."""
    try:
        return PROFILES[ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ConfigurationError(f"unknown OpenAI-compatible profile {name!r}; known: {known}") from None


def _resolve(profile: Union[Profile, str]) -> Profile:
    return get_profile(profile) if isinstance(profile, str) else profile


def create(profile: Union[Profile, str], **options: Any) -> CompatProvider:
    """Build the provider for ``profile`` (no network, no credential check)."""
    return CompatProvider.bind(profile)(**options)


def _factory(name: str) -> Callable[..., CompatProvider]:
    def factory(**options: Any) -> CompatProvider:
        return CompatProvider.bind(name)(**options)

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = f"Create the {PROFILES[name].title} provider (profile {name!r}); see :class:`CompatProvider`."
    return factory


# Module-level factories: the registry's lazy import targets.
openrouter = _factory("openrouter")
requesty = _factory("requesty")
glama = _factory("glama")
unbound = _factory("unbound")
litellm = _factory("litellm")
roo = _factory("roo")
deepseek = _factory("deepseek")
moonshot = _factory("moonshot")
xai = _factory("xai")
groq = _factory("groq")
mistral = _factory("mistral")
cerebras = _factory("cerebras")
chutes = _factory("chutes")
deepinfra = _factory("deepinfra")
doubao = _factory("doubao")
featherless = _factory("featherless")
fireworks = _factory("fireworks")
huggingface = _factory("huggingface")
io_intelligence = _factory("io-intelligence")
sambanova = _factory("sambanova")
zai = _factory("zai")
perplexity = _factory("perplexity")
lmstudio = _factory("lmstudio")
vercel_ai_gateway = _factory("vercel-ai-gateway")
