"""A loopback server for any OpenAI-compatible provider profile, byte-exact on the wire.

``CompatMockServer("deepseek")`` (or a :class:`~tokenwire.providers.compat.Profile`)
serves the profile's own paths: ``server.base_url`` is ``http://127.0.0.1:PORT`` plus the
path of the profile's base URL (``/api/v1`` for OpenRouter, ``/openai/v1`` for Groq, none
for DeepSeek), so a provider pointed at it sends exactly what it sends to the real API.

- ``POST {base}/chat/completions`` — generation, answered with the next script as the
  OpenAI mock does (:class:`~tokenwire.testing.OpenAIMockServer`'s validation and
  rendering), then dressed in the provider's own wire style (below).
- ``GET`` the profile's model-list endpoint (``{base}/models``, OpenRouter's, Glama's
  ``/api/gateway/v1/models``, Unbound's ``/models``, LiteLLM's ``/v1/model/info``, …) in
  the provider's list format, for ``server.models`` (or a small default list).
- Glama (profiles with a :class:`~tokenwire.providers.compat.UsageLookup`): every
  synthesized answer carries ``x-completion-request-id: <id>`` and its record is served
  at ``GET /api/gateway/v1/completion-requests/<id>`` (auth checked like the other
  routes; an id the server did not hand out is a 404): ``{"id", "model",
  "tokenUsage": {"promptTokens", "completionTokens", "cacheReadInputTokens",
  "cacheCreationInputTokens"}, "totalCostUsd"}``, the counts those of the answer's
  usage (cache writes from the script's usage) and the cost a decimal string at $1 /
  $2 / $0.10 / $1.25 per million prompt / completion / cache-read / cache-write tokens.
  Records are in ``server.completion_requests``; ``server.usage_pending = n`` answers
  each record's first ``n`` lookups unsettled (``tokenUsage`` and ``totalCostUsd``
  null, as while Glama is still processing); ``server.lookups.push(Recording.raw(...))``
  answers the next lookups verbatim (errors, bodies that are not JSON). Glama's streams
  carry no usage (it is not requested: Roo sends no ``stream_options``).

Auth: ``Authorization: Bearer <key>`` is required for profiles with required keys
(``api_key=None`` accepts any non-empty key); LM Studio and LiteLLM without an
``api_key`` accept anything. Refusals use the provider's 401 body.

Wire styles (per profile; see :data:`WIRE_STYLES`):

- OpenRouter: reasoning in ``delta.reasoning``, ``: OPENROUTER PROCESSING`` comment
  lines before the first chunk, ``usage.cost`` / ``cost_details``.
- DeepSeek: usage with ``prompt_cache_hit_tokens`` / ``prompt_cache_miss_tokens``.
- Moonshot: usage with a top-level ``cached_tokens``.
- Groq: usage only in ``x_groq.usage`` of the last chunk.
- Perplexity: ``citations`` and ``search_results`` on every chunk (from
  ``server.citations``), usage on every chunk.
- Mistral, Cerebras, Vercel AI Gateway, Unbound, Perplexity send usage without being
  asked (on the last chunk), as their handlers in Roo read it without ``stream_options``.
- Vercel AI Gateway: usage with ``cost`` (USD, at $3 / $15 per million prompt /
  completion tokens, as OpenRouter's) — the gateway's own bill.

Validation beyond OpenAI's (in the provider's error shape): DeepSeek's reasoner rejects
successive user or assistant messages; Perplexity requires alternating roles ending
with a user or tool message; Mistral rejects unknown body fields (422), tool-call ids
that are not 9 alphanumerics, and a trailing assistant message without ``prefix``;
Cerebras takes string contents only.

Sources: DeepSeek's successive-messages and 401 texts, Perplexity's alternation text,
Mistral's flat error object, its tool-id, 401 (``{"message": "Unauthorized",
"request_id"}``) and 429 (``rate_limited``, code ``1300``) bodies, OpenRouter's "No auth
credentials found" / "User not found." 401s and Groq's "Invalid API Key" come from
public issue threads quoting the APIs. Assumed (no authoritative source found): the 401
and 429 texts of the other providers (an OpenAI-shaped ``invalid_api_key`` /
``rate_limit_exceeded`` body), Mistral's trailing-assistant text, Cerebras' content
message, that every provider sends ``x-request-id``, and the sample metadata of the
model lists.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Optional, Union
from urllib.parse import unquote, urlsplit

from tokenwire.providers import compat
from tokenwire.providers.compat import Profile, get_profile
from tokenwire.testing._base import Exchange
from tokenwire.testing._ratelimit import RateLimits
from tokenwire.testing._script import OverrideQueue, Recording, Script
from tokenwire.testing._server import RecordedRequest, Reply
from tokenwire.testing.faults import RateLimit
from tokenwire.testing.openai import OpenAIMockServer
from tokenwire.testing.synth import CREATED, Answer

__all__ = [
    "DEFAULT_CITATIONS",
    "WIRE_STYLES",
    "CompatMockServer",
    "LookupQueue",
    "WireStyle",
    "model_list_document",
]

UsageStyle = Literal["openai", "deepseek", "moonshot", "groq", "openrouter", "vercel"]
ErrorStyle = Literal["openai", "mistral"]


@dataclass(frozen=True)
class WireStyle:
    """How one provider dresses the OpenAI chat wire (see the module docs)."""

    reasoning_field: str = "reasoning_content"
    comments: bool = False
    usage: UsageStyle = "openai"
    #: Usage is sent (on the last chunk) even without ``stream_options``.
    usage_always: bool = False
    #: Perplexity: citations and search results on every chunk, usage on every chunk.
    citations: bool = False
    errors: ErrorStyle = "openai"
    #: ``(message, type, code)`` of a 401 for a missing key and for a wrong one (``{key4}``: the
    #: key's last four characters).
    unauthorized: tuple[tuple[str, Optional[str], Any], tuple[str, Optional[str], Any]] = (
        ("Missing API key", "authentication_error", "invalid_api_key"),
        ("Invalid API key provided", "authentication_error", "invalid_api_key"),
    )
    #: ``(message, type, code)`` of a 429 (``{model}``, ``{limit}``, ``{wait}`` are filled in).
    rate_limited: tuple[str, Optional[str], Any] = ("Rate limit exceeded", "rate_limit_error", "rate_limit_exceeded")
    #: Extra request checks: ``"reasoner"``, ``"alternating"``, ``"mistral"``, ``"string-content"``.
    checks: tuple[str, ...] = ()
    #: Without an ``api_key`` the server takes any request (local servers); with one it checks.
    open_auth: bool = False
    #: Glama: answers carry ``x-completion-request-id``, their usage is served at the
    #: profile's usage-lookup URL (and left out of streams that did not ask for it).
    usage_records: bool = False


#: The wire style of each profile (profiles not listed use the default style).
WIRE_STYLES: Mapping[str, WireStyle] = {
    "openrouter": WireStyle(
        reasoning_field="reasoning",
        comments=True,
        usage="openrouter",
        unauthorized=(("No auth credentials found", None, 401), ("User not found.", None, 401)),
        rate_limited=("Rate limit exceeded: limit_rpm/{model}", None, 429),
    ),
    "deepseek": WireStyle(
        usage="deepseek",
        checks=("reasoner",),
        unauthorized=(
            ("Authentication Fails, Your api key: **** is invalid", "authentication_error", "invalid_request_error"),
            (
                "Authentication Fails, Your api key: ****{key4} is invalid",
                "authentication_error",
                "invalid_request_error",
            ),
        ),
    ),
    "moonshot": WireStyle(usage="moonshot"),
    "groq": WireStyle(
        usage="groq",
        unauthorized=(
            ("Invalid API Key", "invalid_request_error", "invalid_api_key"),
            ("Invalid API Key", "invalid_request_error", "invalid_api_key"),
        ),
        rate_limited=(
            "Rate limit reached for model `{model}` in organization `org_tokenwiremock` service tier `on_demand` on "
            "requests per minute (RPM): Limit {limit}, Used {limit}, Requested 1. Please try again in {wait}s.",
            "requests",
            "rate_limit_exceeded",
        ),
    ),
    "mistral": WireStyle(
        usage_always=True,
        errors="mistral",
        checks=("mistral",),
        rate_limited=("Rate limit exceeded", "rate_limited", "1300"),
    ),
    "cerebras": WireStyle(usage_always=True, checks=("string-content",)),
    "vercel-ai-gateway": WireStyle(usage="vercel", usage_always=True),
    "glama": WireStyle(usage_records=True),
    "unbound": WireStyle(usage_always=True),
    "perplexity": WireStyle(usage_always=True, citations=True, checks=("alternating",)),
    "lmstudio": WireStyle(open_auth=True),
}

#: ``server.citations`` by default: ``(url, title)`` pairs Perplexity-style answers cite.
DEFAULT_CITATIONS: tuple[tuple[str, Optional[str]], ...] = (
    ("https://en.wikipedia.org/wiki/San_Francisco", "San Francisco - Wikipedia"),
    ("https://www.census.gov/quickfacts/sanfranciscocity", "U.S. Census Bureau QuickFacts"),
    ("https://worldpopulationreview.com/us-cities/california/san-francisco", None),
)

_DEFAULT_IDS = ("vendor/model-small", "vendor/model-large")
_MISTRAL_FIELDS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "prediction",
        "parallel_tool_calls",
        "prompt_mode",
        "safe_prompt",
    }
)


class LookupQueue(OverrideQueue[Recording]):
    """Verbatim replies for the next usage lookups: ``server.lookups.push(Recording.raw(b"oops"))``."""

    def push(self, reply: Recording, times: int = 1) -> None:
        """Answer the next ``times`` usage lookups (after anything queued) with ``reply``."""
        if not isinstance(reply, Recording):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"a lookup reply is a Recording, not {reply!r}")
        self._push(reply, times)


class _Refusal(Exception):
    """A request the provider refuses: status and the ``(message, type, code)`` triple."""

    def __init__(self, status: int, message: str, kind: Optional[str] = None, code: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def _sse_payload(frame: bytes) -> Optional[Any]:
    """The JSON payload of a ``data:`` frame (``None`` for ``[DONE]`` or non-JSON)."""
    text = frame.decode("utf-8")
    if not text.startswith("data: "):
        return None
    data = text[len("data: ") :].strip()
    if data == "[DONE]":
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _frame(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


class CompatMockServer(OpenAIMockServer):
    """A loopback server for one OpenAI-compatible profile (see the module docs).

    ``with CompatMockServer("groq", api_key="gsk-test") as server:`` then
    ``tokenwire.providers.compat.groq(api_key="gsk-test", base_url=server.base_url)``.
    ``citations`` sets what Perplexity-style streams cite; ``style`` overrides the
    profile's :class:`WireStyle`.
    """

    provider = "openai-compatible"

    def __init__(
        self,
        profile: Union[Profile, str],
        *,
        api_key: Optional[str] = None,
        script: Optional[Script] = None,
        models: Optional[Sequence[str]] = None,
        rate_limits: Optional[RateLimits] = None,
        citations: Sequence[tuple[str, Optional[str]]] = DEFAULT_CITATIONS,
        style: Optional[WireStyle] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str = "tokenwire",
        max_recorded: Optional[int] = None,
    ) -> None:
        self.profile: Profile = get_profile(profile) if isinstance(profile, str) else profile
        self.style: WireStyle = style or WIRE_STYLES.get(self.profile.name, WireStyle())
        self.citations: tuple[tuple[str, Optional[str]], ...] = tuple(citations)
        self.base_path: str = urlsplit(self.profile.base_url).path.rstrip("/")
        self.completion_requests: dict[str, dict[str, Any]] = {}
        """Glama: the usage records handed out, by id (see the module docs)."""
        self.usage_pending: int = 0
        """Glama: how many lookups of each record answer it unsettled first."""
        self.lookups = LookupQueue()
        """Glama: verbatim replies for the next usage lookups."""
        self._lookup_counts: dict[str, int] = {}
        self._chosen: Optional[Union[Answer, Recording]] = None
        self._rendered_usage: Optional[dict[str, Any]] = None
        super().__init__(
            api_key=api_key,
            script=script,
            models=models,
            rate_limits=rate_limits,
            host=host,
            port=port,
            seed=seed,
            max_recorded=max_recorded,
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` + the profile's base path (what ``base_url=`` takes)."""
        return f"{self.url}{self.base_path}"

    def reset(self) -> None:
        """As :meth:`MockServer.reset`, and forget Glama's usage records and queued lookups."""
        super().reset()
        self.completion_requests.clear()
        self._lookup_counts.clear()
        self.lookups.clear()

    def lookup_path(self, record: str) -> Optional[str]:
        """The path of the usage lookup of ``record`` on this server (``None`` when the
        profile has no usage lookup)."""
        lookup = self.profile.usage_lookup
        if lookup is None:
            return None
        return urlsplit(lookup.url.format(base=self.base_url, origin=self.url, id=record)).path

    @property
    def models_path(self) -> Optional[str]:
        """The path of the profile's model-list endpoint on this server."""
        listing = self.profile.models
        if listing is None:
            return None
        url = listing.url.format(base=self.base_url, origin=self.url)
        return urlsplit(url).path

    # -- plumbing -----------------------------------------------------------------

    def _success_headers(self, ex: Exchange, content_type: str) -> list[tuple[str, str]]:
        return [("content-type", content_type), ("x-request-id", ex.request_id)]

    def _request_id(self, number: int) -> str:
        digest = hashlib.sha256(f"{self._seed}|{self.profile.name}|{number}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def _error(
        self,
        ex: Exchange,
        status: int,
        message: str,
        type: Optional[str] = "invalid_request_error",
        param: Optional[str] = None,
        code: Any = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> Reply:
        if self.style.errors == "mistral":
            payload: dict[str, Any] = {
                "object": "error",
                "message": message,
                "type": type,
                "param": param,
                "code": code,
            }
            body = json.dumps(payload, separators=(",", ":")).encode()
        else:
            error: dict[str, Any] = {"message": message}
            if type is not None:
                error["type"] = type
            error["param"] = param
            error["code"] = code
            body = json.dumps({"error": error}, separators=(",", ":")).encode()
        return Reply(status, [*self._success_headers(ex, content_type), *headers], [body])

    def _refuse(self, ex: Exchange, refusal: _Refusal) -> Reply:
        return self._error(ex, refusal.status, refusal.message, refusal.kind, None, refusal.code)

    def _authenticate(self, request: RecordedRequest) -> None:
        # Done in _route with the provider's own 401 bodies.
        return

    def _check_key(self, request: RecordedRequest, ex: Exchange) -> Optional[Reply]:
        if self.api_key is None and (self.style.open_auth or self.profile.placeholder_key is not None):
            # Local servers (LM Studio, a LiteLLM proxy without a master key) take anything.
            return None
        header = request.headers.get("authorization", "") or ""
        scheme, _, key = header.strip().partition(" ")
        key = key.strip()
        missing, wrong = self.style.unauthorized
        if scheme.lower() != "bearer" or not key:
            chosen = missing
        elif self.api_key is not None and key != self.api_key:
            chosen = wrong
        else:
            return None
        message = chosen[0].replace("{key4}", key[-4:])
        if self.style.errors == "mistral":
            body = json.dumps({"message": "Unauthorized", "request_id": ex.request_id.replace("-", "")}, indent=2)
            return Reply(401, self._success_headers(ex, "application/json; charset=utf-8"), [body.encode()])
        return self._error(ex, 401, message, chosen[1], None, chosen[2])

    # -- routing ------------------------------------------------------------------

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        path = request.path.rstrip("/") or "/"
        chat_path = f"{self.base_path}/chat/completions"
        if path == self.models_path and request.method == "GET":
            refused = self._check_key(request, ex)
            return refused or self._model_list(ex)
        record = self._lookup_record(path)
        if record is not None:
            if request.method != "GET":
                return self._error(ex, 405, f"Invalid method for URL ({request.method} {request.path})")
            refused = self._check_key(request, ex)
            return refused or self._usage_record(ex, record)
        if path != chat_path:
            return self._error(ex, 404, f"Invalid URL ({request.method} {request.path})")
        if request.method != "POST":
            return self._error(ex, 405, f"Invalid method for URL ({request.method} {request.path})")
        refused = self._check_key(request, ex)
        if refused is not None:
            return refused
        try:
            document = json.loads(request.body)
        except ValueError:
            document = None
        body = request.body
        if isinstance(document, dict):
            try:
                self._check_provider_rules(document)  # pyright: ignore[reportUnknownArgumentType]
            except _Refusal as refusal:
                return self._refuse(ex, refusal)
            unasked = document.get("stream") is True and "stream_options" not in document
            if unasked and (self.style.usage_always or self.style.usage_records):
                # Usage is sent unasked, or recorded for the lookup: have it rendered, then
                # moved or removed (below).
                document = {**document, "stream_options": {"include_usage": True}}
                body = json.dumps(document).encode()
        else:
            unasked = False
        self._chosen = None
        self._rendered_usage = None
        reply = super()._route(replace(request, path="/v1/chat/completions", body=body), ex)
        if reply.status != 200 or isinstance(self._last_choice(), Recording):
            return reply
        model = str(document.get("model", "")) if isinstance(document, dict) else ""  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        if reply.stream:
            reply.chunks = self._restyle_stream(reply.chunks, model, drop_usage=unasked)
        else:
            reply.chunks = [self._restyle_body(b"".join(reply.chunks))]
        if self.style.usage_records and self._rendered_usage is not None:
            chosen = self._last_choice()
            # The OpenAI wire has no cache-write count: the record takes the script's.
            write = chosen.resolved_usage()[3] if isinstance(chosen, Answer) else 0
            reply.headers.append(("x-completion-request-id", self._record(ex, model, self._rendered_usage, write)))
        return reply

    # -- usage records (Glama) --------------------------------------------------------

    def _record_id(self, number: int) -> str:
        digest = hashlib.sha256(f"{self._seed}|{self.profile.name}|record|{number}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def _record(self, ex: Exchange, model: str, usage: Mapping[str, Any], write: int) -> str:
        prompt = int(usage.get("prompt_tokens", 0))
        completion = int(usage.get("completion_tokens", 0))
        read = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0))
        cost = (prompt * 1.0 + completion * 2.0 + read * 0.1 + write * 1.25) / 1_000_000
        record = self._record_id(ex.number)
        self.completion_requests[record] = {
            "id": record,
            "model": model,
            "tokenUsage": {
                "promptTokens": prompt,
                "completionTokens": completion,
                "cacheReadInputTokens": read,
                "cacheCreationInputTokens": write,
            },
            "totalCostUsd": f"{cost:.10f}",
        }
        return record

    def _lookup_record(self, path: str) -> Optional[str]:
        """The record id a usage-lookup path names (``None``: not a lookup path)."""
        if not self.style.usage_records:
            return None
        marker = "__record__"
        template = self.lookup_path(marker)
        if template is None:
            return None
        head, _, tail = template.partition(marker)
        if not path.startswith(head) or not path.endswith(tail) or len(path) <= len(head) + len(tail):
            return None
        return unquote(path[len(head) : len(path) - len(tail)])

    def _usage_record(self, ex: Exchange, record: str) -> Reply:
        override = self.lookups.pop()
        if override is not None:
            headers = [*self._success_headers(ex, override.media_type), *override.headers]
            return Reply(override.status, headers, [override.data])
        found = self.completion_requests.get(record)
        if found is None:
            return self._error(ex, 404, f"Completion request {record} not found", "not_found_error")
        seen = self._lookup_counts.get(record, 0)
        self._lookup_counts[record] = seen + 1
        document = dict(found)
        if seen < self.usage_pending:
            document["tokenUsage"] = None
            document["totalCostUsd"] = None
        return Reply(200, self._success_headers(ex, "application/json"), [json.dumps(document, indent=2).encode()])

    def _last_choice(self) -> Optional[Union[Answer, Recording]]:
        # The handler runs on the server's single loop thread, one request at a time.
        return self._chosen

    def _next_script(self, request: RecordedRequest) -> Optional[Union[Answer, Recording]]:
        chosen = super()._next_script(request)
        self._chosen = chosen
        return chosen

    # -- provider rules ------------------------------------------------------------

    def _check_provider_rules(self, document: dict[str, Any]) -> None:
        messages = [m for m in document.get("messages") or [] if isinstance(m, dict)]
        roles = [m.get("role") for m in messages]  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        checks = self.style.checks
        if "reasoner" in checks and document.get("model") == "deepseek-reasoner":
            for index in range(1, len(roles)):  # pyright: ignore[reportUnknownArgumentType]
                if roles[index] == roles[index - 1] and roles[index] in ("user", "assistant"):
                    raise _Refusal(
                        400,
                        "deepseek-reasoner does not support successive user or assistant messages "
                        f"(messages[{index - 1}] and messages[{index}] in your input). You should interleave the "
                        "user/assistant messages in the message sequence.",
                        "invalid_request_error",
                        "invalid_request_error",
                    )
        if "alternating" in checks:
            rest = list(roles)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
            while rest and rest[0] == "system":
                rest.pop(0)
            turns = ["user" if r in ("user", "tool") else r for r in rest]  # pyright: ignore[reportUnknownVariableType]
            expected = "user"
            valid = bool(turns) and turns[-1] == "user"
            for turn in turns:  # pyright: ignore[reportUnknownVariableType]
                if turn != expected:
                    valid = False
                    break
                expected = "assistant" if expected == "user" else "user"
            if not valid:
                raise _Refusal(
                    400,
                    "After the (optional) system message(s), user or tool message(s) should alternate with "
                    "assistant message(s).",
                    "invalid_message",
                    400,
                )
        if "mistral" in checks:
            self._check_mistral(document, messages)  # pyright: ignore[reportUnknownArgumentType]
        if "string-content" in checks:
            for index, message in enumerate(messages):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
                content = message.get("content")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if content is not None and not isinstance(content, str):
                    raise _Refusal(
                        400,
                        f"messages[{index}].content: Input should be a valid string",
                        "invalid_request_error",
                        "wrong_api_format",
                    )

    @staticmethod
    def _check_mistral(document: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        extra = sorted(set(document) - _MISTRAL_FIELDS)
        if extra:
            detail = [
                {"type": "extra_forbidden", "loc": ["body", key], "msg": "Extra inputs are not permitted"}
                for key in extra
            ]
            raise _Refusal(422, json.dumps({"detail": detail}), "invalid_request_error", None)
        for message in messages:
            ids = [str(c.get("id", "")) for c in message.get("tool_calls") or [] if isinstance(c, dict)]
            if message.get("role") == "tool":
                ids.append(str(message.get("tool_call_id", "")))
            for call_id in ids:
                if len(call_id) != 9 or not call_id.isascii() or not call_id.isalnum():
                    raise _Refusal(
                        400,
                        f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9.",
                        "invalid_request_error",
                        None,
                    )
        if messages and messages[-1].get("role") == "assistant" and messages[-1].get("prefix") is not True:
            raise _Refusal(
                400,
                "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant",
                "invalid_request_error",
                None,
            )

    # -- wire styles ---------------------------------------------------------------

    def _styled_usage(self, usage: Mapping[str, Any]) -> dict[str, Any]:
        prompt = int(usage.get("prompt_tokens", 0))
        completion = int(usage.get("completion_tokens", 0))
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0))
        reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0))
        style = self.style.usage
        if style == "deepseek":
            return {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
                "prompt_cache_hit_tokens": cached,
                "prompt_cache_miss_tokens": prompt - cached,
                **({"completion_tokens_details": {"reasoning_tokens": reasoning}} if reasoning else {}),
            }
        if style == "moonshot":
            return {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "cached_tokens": cached,
            }
        if style == "groq":
            return {
                "queue_time": 0.01,
                "prompt_tokens": prompt,
                "prompt_time": 0.002,
                "completion_tokens": completion,
                "completion_time": 0.05,
                "total_tokens": prompt + completion,
                "total_time": 0.052,
            }
        out = dict(usage)
        if style == "openrouter":
            cost = round((prompt * 3 + completion * 15) / 1_000_000, 9)
            out["cost"] = cost
            out["is_byok"] = False
            out["cost_details"] = {"upstream_inference_cost": None}
        elif style == "vercel":
            out["cost"] = round((prompt * 3 + completion * 15) / 1_000_000, 9)
        return out

    def _citation_fields(self) -> dict[str, Any]:
        return {
            "citations": [url for url, _ in self.citations],
            "search_results": [
                {"title": title or url, "url": url, "date": "2025-06-01"} if title else {"url": url}
                for url, title in self.citations
            ],
        }

    def _restyle_stream(self, frames: list[bytes], model: str, *, drop_usage: bool = False) -> list[bytes]:
        style = self.style
        payloads: list[Any] = [_sse_payload(f) for f in frames]
        usage: Optional[dict[str, Any]] = None
        out: list[bytes] = []
        kept: list[tuple[bytes, Any]] = []
        for frame, payload in zip(frames, payloads):
            if isinstance(payload, dict) and payload.get("choices") == [] and isinstance(payload.get("usage"), dict):
                usage = self._styled_usage(payload["usage"])  # pyright: ignore[reportUnknownArgumentType]
                self._rendered_usage = usage
                if style.usage_records and drop_usage:
                    usage = None
                    continue  # not asked for: only the usage record has it
                if style.usage in ("groq",) or style.usage_always:
                    continue  # moved onto the last choice chunk below
                styled = {**payload, "usage": usage}  # pyright: ignore[reportUnknownVariableType]
                kept.append((_frame(styled), styled))
                continue
            kept.append((frame, payload))
        last_choice = max(
            (i for i, (_, p) in enumerate(kept) if isinstance(p, dict) and p.get("choices")),  # pyright: ignore[reportUnknownMemberType]
            default=-1,
        )
        if style.comments:
            out.append(b": OPENROUTER PROCESSING\n\n")
        for index, (frame, payload) in enumerate(kept):
            if not isinstance(payload, dict):
                out.append(frame)
                continue
            changed: dict[str, Any] = dict(payload)  # pyright: ignore[reportUnknownArgumentType]
            if style.reasoning_field != "reasoning_content":
                changed["choices"] = [self._rename_reasoning(c) for c in changed.get("choices") or []]
            if style.citations:
                changed.update(self._citation_fields())
                if usage is not None:
                    changed["usage"] = usage
            if index == last_choice and usage is not None:
                if style.usage == "groq":
                    changed["x_groq"] = {"id": "req_" + self._request_id(0).replace("-", "")[:26], "usage": usage}
                elif style.usage_always:
                    changed["usage"] = usage
            out.append(_frame(changed) if changed != payload else frame)
        return out

    def _rename_reasoning(self, choice: Any) -> Any:
        if not isinstance(choice, dict) or not isinstance(choice.get("delta"), dict):
            return choice
        delta = dict(choice["delta"])  # pyright: ignore[reportUnknownArgumentType]
        if "reasoning_content" in delta:
            delta[self.style.reasoning_field] = delta.pop("reasoning_content")
        return {**choice, "delta": delta}

    def _restyle_body(self, raw: bytes) -> bytes:
        try:
            document = json.loads(raw)
        except ValueError:
            return raw
        if not isinstance(document, dict):
            return raw
        if isinstance(document.get("usage"), dict):
            document["usage"] = self._styled_usage(document["usage"])  # pyright: ignore[reportUnknownArgumentType]
            self._rendered_usage = document["usage"]
            if self.style.usage == "groq":
                document["x_groq"] = {"id": "req_mock", "usage": document["usage"]}
        if self.style.citations:
            document.update(self._citation_fields())
        if self.style.reasoning_field != "reasoning_content":
            for choice in document.get("choices") or []:  # pyright: ignore[reportUnknownVariableType]
                message = choice.get("message") if isinstance(choice, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if isinstance(message, dict) and "reasoning_content" in message:
                    message[self.style.reasoning_field] = message.pop("reasoning_content")  # pyright: ignore[reportUnknownMemberType]
        return json.dumps(document, indent=2).encode()

    # -- faults ---------------------------------------------------------------------

    def _rate_limited(self, ex: Exchange, model: str, fault: RateLimit) -> Reply:
        wait = fault.retry_after if fault.retry_after is not None else 1.0
        message, kind, code = self.style.rate_limited
        text = message.replace("{model}", model).replace("{limit}", str(fault.limit)).replace("{wait}", f"{wait:g}")
        headers: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            headers.append(("retry-after", str(math.ceil(fault.retry_after))))
        if self.style.errors == "mistral":
            payload: dict[str, Any] = {
                "object": "error",
                "message": text,
                "type": kind,
                "param": None,
                "code": code,
                "raw_status_code": 429,
            }
            body = json.dumps(payload, separators=(",", ":")).encode()
            return Reply(429, [*self._success_headers(ex, "application/json"), *headers], [body])
        return self._error(ex, 429, text, kind, None, code, headers=headers)

    # -- model lists ------------------------------------------------------------------

    def _model_list(self, ex: Exchange) -> Reply:
        ids = list(self.models) if self.models is not None else list(_DEFAULT_IDS)
        listing = self.profile.models
        parse = listing.parse if listing is not None else compat.parse_openai_models
        document = model_list_document(parse, ids)
        return Reply(200, self._success_headers(ex, "application/json"), [json.dumps(document, indent=2).encode()])


def model_list_document(parse: compat.ModelParser, ids: Sequence[str]) -> Any:
    """A model-list response in the format ``parse`` reads, for ``ids`` (deterministic
    sample metadata: context 131072, max output 8192, input $1 / output $2 per million)."""
    if parse is compat.parse_openrouter_models:
        return {
            "data": [
                {
                    "id": model_id,
                    "name": model_id.split("/")[-1].replace("-", " ").title(),
                    "created": CREATED,
                    "context_length": 131_072,
                    "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
                    "pricing": {"prompt": "0.000001", "completion": "0.000002", "input_cache_read": "0.0000001"},
                    "top_provider": {"max_completion_tokens": 8192},
                    "supported_parameters": ["max_tokens", "temperature", "reasoning", "tools"],
                }
                for model_id in ids
            ]
        }
    if parse is compat.parse_requesty_models:
        return {
            "data": [
                {
                    "id": model_id,
                    "object": "model",
                    "context_window": 131_072,
                    "max_output_tokens": 8192,
                    "supports_vision": True,
                    "supports_caching": True,
                    "supports_reasoning": False,
                    "input_price": 0.000001,
                    "output_price": 0.000002,
                    "caching_price": 0.00000125,
                    "cached_price": 0.0000001,
                }
                for model_id in ids
            ]
        }
    if parse is compat.parse_glama_models:
        return [
            {
                "id": model_id,
                "maxTokensInput": 131_072,
                "maxTokensOutput": 8192,
                "capabilities": ["input:text", "input:image", "caching"],
                "pricePerToken": {"input": "0.000001", "output": "0.000002", "cacheRead": "0.0000001"},
            }
            for model_id in ids
        ]
    if parse is compat.parse_unbound_models:
        return {
            model_id: {
                "contextWindow": "131072",
                "maxTokens": "8192",
                "supportsImages": True,
                "supportsPromptCaching": False,
                "inputTokenPrice": "1",
                "outputTokenPrice": "2",
            }
            for model_id in ids
        }
    if parse is compat.parse_litellm_models:
        return {
            "data": [
                {
                    "model_name": model_id,
                    "litellm_params": {"model": f"openai/{model_id}"},
                    "model_info": {
                        "max_tokens": 8192,
                        "max_input_tokens": 131_072,
                        "supports_vision": True,
                        "supports_prompt_caching": False,
                        "input_cost_per_token": 0.000001,
                        "output_cost_per_token": 0.000002,
                    },
                }
                for model_id in ids
            ]
        }
    if parse is compat.parse_deepinfra_models:
        return {
            "object": "list",
            "data": [
                {
                    "id": model_id,
                    "object": "model",
                    "created": CREATED,
                    "owned_by": "deepinfra",
                    "metadata": {
                        "context_length": 131_072,
                        "max_tokens": 8192,
                        "tags": ["vision", "prompt_cache"],
                        "pricing": {"input_tokens": 1.0, "output_tokens": 2.0, "cache_read_tokens": 0.1},
                    },
                }
                for model_id in ids
            ],
        }
    if parse is compat.parse_huggingface_models:
        return {
            "object": "list",
            "data": [
                {
                    "id": model_id,
                    "object": "model",
                    "created": CREATED,
                    "owned_by": model_id.split("/")[0],
                    "providers": [
                        {
                            "provider": "together",
                            "status": "live",
                            "context_length": 131_072,
                            "pricing": {"input": 1.0, "output": 2.0},
                        },
                        {"provider": "novita", "status": "staging"},
                    ],
                }
                for model_id in ids
            ],
        }
    if parse is compat.parse_vercel_models:
        return {
            "object": "list",
            "data": [
                {
                    "id": model_id,
                    "object": "model",
                    "created": CREATED,
                    "owned_by": model_id.split("/")[0],
                    "name": model_id,
                    "description": f"{model_id} (tokenwire mock)",
                    "context_window": 131_072,
                    "max_tokens": 8192,
                    "type": "language",
                    "pricing": {"input": "0.000001", "output": "0.000002"},
                }
                for model_id in ids
            ],
        }
    return {
        "object": "list",
        "data": [{"id": model_id, "object": "model", "created": CREATED, "owned_by": "system"} for model_id in ids],
    }
