"""A loopback mock of the Gemini API (``generativelanguage.googleapis.com``), byte-exact on the wire.

Routes (``base_url`` = ``http://127.0.0.1:PORT``, the SDKs' convention; the version
segment may be ``v1beta``, ``v1`` or ``v1alpha``):

- ``POST /v1beta/models/{model}:generateContent`` — a pretty-printed JSON answer.
- ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` — Server-Sent Events
  framed with ``\\r\\n`` (``data: <compact JSON>\\r\\n\\r\\n``), one HTTP chunk per event;
  without ``alt=sse``, a JSON array of the same payloads, as the real API does.
- ``POST /v1beta/models/{model}:countTokens`` — ``{"totalTokens": N, …}`` for
  ``{"contents"}`` or ``{"generateContentRequest"}``; N is :func:`estimate_gemini_tokens`
  of the request, the same estimate ``"auto"`` usage reports, so the two agree.
- ``GET /v1beta/models?pageSize=&pageToken=`` (pages of ``pageSize``, default 50, at most
  1000, with ``nextPageToken``) and ``GET /v1beta/models/{model}``.

Validation, in Google's shapes (``{"error": {"code", "message", "status", "details"}}``,
two-space indented, ``application/json; charset=UTF-8``):

- the key comes from ``x-goog-api-key`` (or the ``key`` query parameter): none → 403
  ``PERMISSION_DENIED`` "Method doesn't allow unregistered callers (callers without
  established identity). Please use API Key or other form of API consumer identity to
  call this API."; a wrong one → 400 ``INVALID_ARGUMENT`` "API key not valid. Please pass
  a valid API key." with an ``ErrorInfo`` (reason ``API_KEY_INVALID``, domain
  ``googleapis.com``, metadata.service) and a ``LocalizedMessage`` detail — both shapes
  as recorded from the real API in public issue threads;
- a body that is not a JSON object → "Invalid JSON payload received. …"; an unknown
  field → ``Invalid JSON payload received. Unknown name "x": Cannot find field.`` (also
  inside ``generationConfig`` and ``thinkingConfig``); no ``contents`` → "*
  GenerateContentRequest.contents: contents is not specified"; an empty ``parts`` → "*
  GenerateContentRequest.contents[i].parts: contents.parts must not be empty."; a role
  other than ``user``/``model`` → "Please use a valid role: user, model.";
- with a model allowlist an unknown model → 404 ``NOT_FOUND`` "models/x is not found for
  API version v1beta, or is not supported for generateContent. Call ListModels to see
  the list of available models and their supported methods."; an unknown path → Google
  frontend's HTML 404.

Faults (:mod:`tokenwire.testing.faults`) in Gemini's shapes: ``RateLimit`` → 429
``RESOURCE_EXHAUSTED`` with ``QuotaFailure``, ``Help`` and ``RetryInfo`` details
(``retryDelay`` like ``"20s"`` / ``"34.4s"`` from ``retry_after``; none when it is
``None``) — the shape of the recorded ``google-429-retry-info.json``; ``QuotaExceeded``
→ 429 billing quota without ``RetryInfo``; ``ServerFault`` → 500 ``INTERNAL`` / 503
``UNAVAILABLE`` / 504 ``DEADLINE_EXCEEDED`` (others ``UNKNOWN``); ``Overloaded`` → 503
``UNAVAILABLE`` "The model is overloaded. Please try again later."; ``ErrorEvent`` →
``data: {"error": {…}}`` in the stream (default 503 ``UNAVAILABLE``; ``error_type``
names the status, whose HTTP code is used). Gemini sends no request-id header, so the
mock sends none either; the request number shapes the ``responseId`` instead.

What is assumed (no authoritative source found): the exact wording of the validation
messages beyond those quoted above, and the model list entries' metadata.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

from tokenwire.testing import synth_gemini
from tokenwire.testing._base import Exchange, MockServer, echo
from tokenwire.testing._ratelimit import Meter
from tokenwire.testing._script import Recording
from tokenwire.testing._server import RecordedRequest, Reply
from tokenwire.testing.faults import Overloaded, QuotaExceeded, RateLimit, ServerFault
from tokenwire.testing.synth import Answer, Protocol, split_sse_events

__all__ = ["DEFAULT_MODELS", "GeminiMockServer", "estimate_gemini_tokens", "retry_delay"]

#: The models ``GET /v1beta/models`` lists by default: id → (display name, input limit, output limit, thinking).
DEFAULT_MODELS: dict[str, tuple[str, int, int, bool]] = {
    "gemini-2.5-pro": ("Gemini 2.5 Pro", 1_048_576, 65_536, True),
    "gemini-2.5-flash": ("Gemini 2.5 Flash", 1_048_576, 65_536, True),
    "gemini-2.5-flash-lite": ("Gemini 2.5 Flash-Lite", 1_048_576, 65_536, True),
    "gemini-2.0-flash-001": ("Gemini 2.0 Flash 001", 1_048_576, 8_192, False),
    "gemini-2.0-flash-lite-001": ("Gemini 2.0 Flash-Lite 001", 1_048_576, 8_192, False),
    "gemini-embedding-001": ("Gemini Embedding 001", 2_048, 1, False),
}

_JSON = "application/json; charset=UTF-8"
_SSE = "text/event-stream"
_GOOGLE_HEADERS: tuple[tuple[str, str], ...] = (
    ("vary", "Origin"),
    ("vary", "X-Origin"),
    ("vary", "Referer"),
    ("server", "scaffolding on HTTPServer2"),
    ("x-xss-protection", "0"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-content-type-options", "nosniff"),
)
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or "
    "other form of API consumer identity to call this API."
)
_BAD_KEY = "API key not valid. Please pass a valid API key."
_OVERLOADED = "The model is overloaded. Please try again later."
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more information on this "
    "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_CODES = {name: code for code, name in _STATUS_NAMES.items()}
_SERVER_MESSAGES: dict[int, str] = {
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: _OVERLOADED,
    504: "Deadline expired before operation could complete.",
}
_REQUEST_FIELDS = {
    "contents",
    "tools",
    "toolConfig",
    "tool_config",
    "safetySettings",
    "safety_settings",
    "systemInstruction",
    "system_instruction",
    "generationConfig",
    "generation_config",
    "cachedContent",
    "cached_content",
    "model",
    "labels",
}
_GENERATION_FIELDS = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
}
_THINKING_FIELDS = {"thinkingBudget", "includeThoughts", "thinkingLevel"}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def retry_delay(seconds: float) -> str:
    """A ``google.protobuf.Duration`` in JSON form, as ``RetryInfo.retryDelay`` carries it:
    ``"20s"``, ``"34.4s"``, ``"0.5s"``."""
    nanos = max(0, round(seconds * 1e9))
    whole, frac = divmod(nanos, 1_000_000_000)
    if not frac:
        return f"{whole}s"
    return f"{whole}.{str(frac).rjust(9, '0').rstrip('0')}s"


class GoogleInvalid(Exception):
    """A request the real API refuses: the HTTP status and Google's error object."""

    def __init__(
        self, message: str, *, status: int = 400, details: Sequence[Mapping[str, Any]] = (), html: bool = False
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.details, self.html = message, status, tuple(details), html


def _text_of_parts(parts: Any) -> tuple[int, str]:
    """(characters counted, the plain text) of a Gemini ``parts`` list."""
    chars = 0
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            chars += len(text)
            texts.append(text)
        for key in ("functionCall", "functionResponse", "inlineData", "fileData"):
            if key in part:
                chars += len(json.dumps(part[key], separators=(",", ":"), ensure_ascii=False))
    return chars, "".join(texts)


def estimate_gemini_tokens(document: Any) -> int:
    """The mock's deterministic input-token estimate of a Gemini request:
    ``ceil(characters / 4) + 3 per content`` over the system instruction, every part
    (non-text parts as compact JSON) and the tools (compact JSON). At least 1. A
    ``countTokens`` body's ``generateContentRequest`` is unwrapped first."""
    if not isinstance(document, dict):
        return 1
    inner = document.get("generateContentRequest")
    if isinstance(inner, dict):
        document = inner
    chars = 0
    contents = document.get("contents")
    count = 0
    for content in contents if isinstance(contents, list) else ():
        count += 1
        if isinstance(content, dict):
            chars += _text_of_parts(content.get("parts"))[0]
    system = document.get("systemInstruction", document.get("system_instruction"))
    if isinstance(system, dict):
        chars += _text_of_parts(system.get("parts"))[0]
    tools = document.get("tools")
    if tools is not None:
        chars += len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    return max(1, math.ceil(chars / 4) + 3 * count)


def _pretty(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def gemini_echo(document: Mapping[str, Any]) -> str:
    """The default answer: echo the last user turn, or the last function response."""
    contents = document.get("contents")
    for content in reversed(contents if isinstance(contents, list) else []):
        if not isinstance(content, dict) or content.get("role", "user") != "user":
            continue
        parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
        responses = [p["functionResponse"] for p in parts if isinstance(p.get("functionResponse"), dict)]
        if responses:
            response = responses[-1].get("response")
            value = response.get("content") if isinstance(response, dict) and "content" in response else response
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            return f"The tool returned: {text}"
        return echo(_text_of_parts(parts)[1])
    return echo("")


class GeminiWireServer(MockServer):
    """What the Gemini and Vertex AI mocks share: Google's error shapes, request
    validation, and answers rendered in the Gemini protocol (see the module docs)."""

    api_versions: tuple[str, ...] = ("v1beta", "v1", "v1alpha")

    # -- shapes --------------------------------------------------------------

    def _google_headers(self, content_type: str) -> list[tuple[str, str]]:
        return [("content-type", content_type), *_GOOGLE_HEADERS]

    def _google_error(
        self,
        status: int,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] = (),
        headers: Sequence[tuple[str, str]] = (),
        status_name: Optional[str] = None,
    ) -> Reply:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": status_name or _STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if details:
            error["details"] = [dict(d) for d in details]
        return Reply(status, [*self._google_headers(_JSON), *headers], [_pretty({"error": error})])

    def _html_not_found(self, path: str) -> Reply:
        page = (
            "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n"
            "  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n"
            f"  <p>The requested URL <code>{path}</code> was not found on this server."
            "  <ins>That\u2019s all we know.</ins>\n"
        )
        return Reply(404, [("content-type", "text/html; charset=UTF-8"), *_GOOGLE_HEADERS[3:]], [page.encode()])

    def _invalid_reply(self, error: GoogleInvalid, path: str) -> Reply:
        if error.html:
            return self._html_not_found(path)
        return self._google_error(error.status, error.message, details=error.details)

    def _success_headers(self, ex: Exchange, content_type: str) -> list[tuple[str, str]]:
        return self._google_headers(content_type)

    def _limit_headers(self, meters: Mapping[str, Meter]) -> list[tuple[str, str]]:
        return []  # Google sends no rate-limit headers

    def _request_id(self, number: int) -> str:
        return synth_gemini.response_id(f"{self._seed}|{self.provider}|{number}")

    # -- validation ----------------------------------------------------------

    @staticmethod
    def _parse_json(request: RecordedRequest) -> dict[str, Any]:
        try:
            document = json.loads(request.body)
        except ValueError:
            raise GoogleInvalid("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(document, dict):
            raise GoogleInvalid(
                "Invalid JSON payload received. Expected an object key or }.\n"
                f"{request.body[:20].decode('utf-8', 'replace')}\n^"
            )
        return document  # pyright: ignore[reportUnknownVariableType]

    @staticmethod
    def _check_fields(document: Mapping[str, Any], allowed: set[str], where: Optional[str]) -> None:
        for key in document:
            if key not in allowed and _snake(key) not in {_snake(a) for a in allowed}:
                at = f" at '{where}'" if where else ""
                raise GoogleInvalid(f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')

    def _check_generate(self, document: Mapping[str, Any]) -> None:
        self._check_fields(document, _REQUEST_FIELDS, None)
        config = document.get("generationConfig", document.get("generation_config"))
        if isinstance(config, dict):
            self._check_fields(config, _GENERATION_FIELDS, "generation_config")
            thinking = config.get("thinkingConfig", config.get("thinking_config"))
            if isinstance(thinking, dict):
                self._check_fields(thinking, _THINKING_FIELDS, "generation_config.thinking_config")
        contents = document.get("contents")
        if not isinstance(contents, list) or not contents:
            raise GoogleInvalid("* GenerateContentRequest.contents: contents is not specified\n")
        for index, content in enumerate(contents):  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(content, dict):
                raise GoogleInvalid(f"Invalid JSON payload received. Expected an object at 'contents[{index}]'.")
            role = content.get("role")
            if role is not None and role not in ("user", "model"):
                raise GoogleInvalid("Please use a valid role: user, model.")
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                raise GoogleInvalid(
                    f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.\n"
                )

    # -- answers -------------------------------------------------------------

    def _gemini_generate(
        self,
        request: RecordedRequest,
        ex: Exchange,
        document: dict[str, Any],
        *,
        model: str,
        stream: bool,
        sse: bool,
        limit_exceeded: Optional[Callable[[str, float, Meter, int], Reply]] = None,
    ) -> Reply:
        """Answer a generateContent / streamGenerateContent request with the next script."""
        ex.model = model
        script = self._next_script(request)
        input_tokens = estimate_gemini_tokens(document)
        if self._limits is not None:
            output = script.resolved_usage(input_tokens)[1] if isinstance(script, Answer) else 0
            _, exceeded = self._limits.consume(input_tokens=input_tokens, output_tokens=output)
            if exceeded is not None and limit_exceeded is not None:
                return limit_exceeded(*exceeded)
        if script is None:
            script = Answer(gemini_echo(document))
        if isinstance(script, Recording):
            reply = self._recording_reply(script, stream=stream)
        elif stream:
            payloads = synth_gemini.chunks(
                script, model=model, input_tokens=input_tokens, response_id_seed=f"{self._seed}|{ex.number}"
            )
            if sse:
                reply = Reply(200, self._google_headers(_SSE), synth_gemini.frame(payloads), stream=True)
            else:
                pieces = [json.dumps(p, indent=2, ensure_ascii=False) for p in payloads]
                body = ("[" + ",\r\n".join(pieces) + "]").encode()
                reply = Reply(200, self._google_headers(_JSON), [body], stream=True)
        else:
            body = synth_gemini.body(
                script, model=model, input_tokens=input_tokens, response_id_seed=f"{self._seed}|{ex.number}"
            )
            reply = Reply(200, self._google_headers(_JSON), [body])
        if reply.stream and sse:
            # The base class applies stream faults only to its own protocols.
            reply.chunks = self._apply_stream_faults(reply.chunks, ex.plan, ex)
        return reply

    def _recording_reply(self, script: Recording, *, stream: bool) -> Reply:
        if script.lines is not None:
            chunks = synth_gemini.frame(script.lines)
            headers = self._google_headers(_SSE)
            is_stream = True
        else:
            chunks = split_sse_events(script.data) if script.is_stream else [script.data]
            headers = self._google_headers(script.media_type)
            is_stream = script.is_stream
        names = {name.lower() for name, _ in script.headers}
        headers = [(k, v) for k, v in headers if k.lower() not in names] + list(script.headers)
        return Reply(script.status, headers, chunks, stream=is_stream)

    def _gemini_stream_error(self, error_type: Optional[str], message: Optional[str]) -> list[bytes]:
        status_name = error_type or "UNAVAILABLE"
        code = _STATUS_CODES.get(status_name, 500)
        text = message or _SERVER_MESSAGES.get(code, "Internal error encountered.")
        payload = {"error": {"code": code, "message": text, "status": status_name}}
        return synth_gemini.frame([payload])

    def _stream_error(
        self, error_type: Optional[str], message: Optional[str], ex: Exchange, sequence: int
    ) -> list[bytes]:
        return self._gemini_stream_error(error_type, message)

    def _echo_text(self, document: dict[str, Any], protocol: Protocol) -> str:
        return gemini_echo(document)

    def _server_fault(self, fault: Union[ServerFault, Overloaded]) -> Reply:
        if isinstance(fault, Overloaded):
            return self._google_error(503, _OVERLOADED)
        status = fault.status
        message = fault.message or _SERVER_MESSAGES.get(status, "Internal error encountered.")
        return self._google_error(status, message)


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode("ascii").rstrip("=")


def _page_offset(token: str) -> Optional[int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = raw.partition(":")
    return int(number) if prefix == "offset" and number.isdigit() else None


class GeminiMockServer(GeminiWireServer):
    """A loopback Gemini API. ``with GeminiMockServer(api_key="AIza-test") as server:``
    then point a client at ``server.base_url`` (``http://127.0.0.1:PORT``).

    ``models`` is an allowlist (and what ``/v1beta/models`` lists; a default list when
    ``None``, and any model is accepted). ``rate_limits`` meters requests (Gemini sends no
    rate-limit headers; with ``enforce=True`` an over-limit request gets the 429).
    """

    provider = "gemini"

    # -- routing -------------------------------------------------------------

    def _split(self, path: str) -> tuple[Optional[str], str, Optional[str]]:
        """``(version, resource, method)`` of ``/{version}/{resource}[:{method}]``."""
        pieces = path.lstrip("/").split("/", 1)
        if len(pieces) != 2 or pieces[0] not in self.api_versions:
            return None, path, None
        resource, colon, method = pieces[1].partition(":")
        return pieces[0], resource, (method if colon else None)

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        path = request.path.rstrip("/") or "/"
        version, resource, method = self._split(path)
        try:
            if version is None or not (resource == "models" or resource.startswith(("models/", "tunedModels/"))):
                raise GoogleInvalid("", html=True)
            self._authenticate(request)
            if request.method == "GET" and method is None:
                if resource == "models":
                    return self._list_models(request)
                return self._get_model(resource, version)
            if request.method != "POST" or method not in ("generateContent", "streamGenerateContent", "countTokens"):
                raise GoogleInvalid("", html=True)
            model = resource.split("/", 1)[1] if "/" in resource else resource
            self._check_model(model, version, method)
            document = self._parse_json(request)
            if method == "countTokens":
                return self._count_tokens(document)
            self._check_generate(document)
            return self._gemini_generate(
                request,
                ex,
                document,
                model=model,
                stream=method == "streamGenerateContent",
                sse=request.query.get("alt") == "sse",
                limit_exceeded=self._limit_reply(model),
            )
        except GoogleInvalid as error:
            return self._invalid_reply(error, request.path)

    def _authenticate(self, request: RecordedRequest) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise GoogleInvalid(_NO_KEY, status=403)
        if self.api_key is not None and key != self.api_key:
            raise GoogleInvalid(
                _BAD_KEY,
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": _BAD_KEY,
                    },
                ],
            )

    def _check_model(self, model: str, version: str, method: str) -> None:
        if self.models is not None and model not in self.models:
            raise GoogleInvalid(
                f"models/{model} is not found for API version {version}, or is not supported for {method}. Call "
                "ListModels to see the list of available models and their supported methods.",
                status=404,
            )

    # -- endpoints -----------------------------------------------------------

    def _names(self) -> Sequence[str]:
        return self.models if self.models is not None else tuple(DEFAULT_MODELS)

    @staticmethod
    def _model_entry(name: str) -> dict[str, Any]:
        display, input_limit, output_limit, thinking = DEFAULT_MODELS.get(name, (name, 1_048_576, 8_192, False))
        embedding = "embedding" in name
        entry: dict[str, Any] = {
            "name": f"models/{name}",
            "version": "001",
            "displayName": display,
            "description": f"{display} (tokenwire mock)",
            "inputTokenLimit": input_limit,
            "outputTokenLimit": output_limit,
            "supportedGenerationMethods": (
                ["embedContent", "countTextTokens", "countTokens"]
                if embedding
                else ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
            ),
        }
        if not embedding:
            entry.update({"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2})
        if thinking:
            entry["thinking"] = True
        return entry

    def _list_models(self, request: RecordedRequest) -> Reply:
        raw_size = request.query.get("pageSize", "50")
        if not raw_size.lstrip("-").isdigit():
            raise GoogleInvalid(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size}\"")
        size = int(raw_size)
        size = 50 if size <= 0 else min(size, 1000)
        token = request.query.get("pageToken", "")
        offset = _page_offset(token) if token else 0
        if offset is None:
            raise GoogleInvalid("Invalid page token.")
        names = list(self._names())
        page = names[offset : offset + size]
        document: dict[str, Any] = {"models": [self._model_entry(n) for n in page]}
        if offset + size < len(names):
            document["nextPageToken"] = _page_token(offset + size)
        return Reply(200, self._google_headers(_JSON), [_pretty(document)])

    def _get_model(self, resource: str, version: str) -> Reply:
        name = resource.split("/", 1)[1]
        if self.models is not None and name not in self.models:
            raise GoogleInvalid(f"models/{name} is not found for API version {version}", status=404)
        return Reply(200, self._google_headers(_JSON), [_pretty(self._model_entry(name))])

    def _count_tokens(self, document: dict[str, Any]) -> Reply:
        inner = document.get("generateContentRequest")
        if inner is not None:
            if not isinstance(inner, dict):
                raise GoogleInvalid("Invalid JSON payload received. Expected an object at 'generate_content_request'.")
            if not isinstance(inner.get("model"), str) or not inner.get("model"):
                raise GoogleInvalid(
                    "* CountTokensRequest.generate_content_request.model: unexpected model name format\n"
                )
            self._check_generate({k: v for k, v in inner.items() if k != "model"})
        else:
            self._check_fields(document, {"contents"}, None)
            if document.get("contents"):
                self._check_generate(document)
        total = estimate_gemini_tokens(document)
        body = {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
        return Reply(200, self._google_headers(_JSON), [_pretty(body)])

    # -- faults ----------------------------------------------------------------

    def _fault_reply(
        self, fault: Union[RateLimit, QuotaExceeded, ServerFault, Overloaded], request: RecordedRequest, ex: Exchange
    ) -> Reply:
        if isinstance(fault, RateLimit):
            return self._rate_limited(fault, _model_from_path(request.path))
        if isinstance(fault, QuotaExceeded):
            return self._google_error(429, _QUOTA)
        return self._server_fault(fault)

    def _rate_limited(self, fault: RateLimit, model: str) -> Reply:
        metric = (
            "generate_content_free_tier_requests"
            if fault.kind == "requests"
            else "generate_content_free_tier_input_token_count"
        )
        quota_id = (
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
            if fault.kind == "requests"
            else ("GenerateContentInputTokensPerModelPerMinute-FreeTier")
        )
        message = (
            f"{_QUOTA}\n* Quota exceeded for metric: generativelanguage.googleapis.com/{metric}, "
            f"limit: {fault.limit}, model: {model}"
        )
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"generativelanguage.googleapis.com/{metric}",
                        "quotaId": quota_id,
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": str(fault.limit),
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
        ]
        if fault.retry_after is not None:
            delay = retry_delay(fault.retry_after)
            message += f"\nPlease retry in {delay}."
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
        return self._google_error(429, message, details=details)

    def _limit_reply(self, model: str) -> Callable[[str, float, Meter, int], Reply]:
        def reply(kind: str, wait: float, meter: Meter, requested: int) -> Reply:
            fault = RateLimit(retry_after=wait, kind="requests" if kind == "requests" else "tokens", limit=meter.limit)
            return self._rate_limited(fault, model)

        return reply


def _model_from_path(path: str) -> str:
    tail = path.rsplit("/models/", 1)[-1] if "/models/" in path else "gemini"
    return tail.split(":", 1)[0] or "gemini"
