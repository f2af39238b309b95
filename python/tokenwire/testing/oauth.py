"""Loopback mocks for the CLI-login providers: Google's Code Assist API (``gemini-cli``) and
Qwen's OAuth + DashScope endpoint (``qwen-code``), each with its OAuth token endpoint.

::

    from tokenwire.testing.oauth import CodeAssistMockServer

    with CodeAssistMockServer(project="my-project") as server:
        path.write_text(json.dumps(server.issue_credentials(expired=True)))
        provider = GeminiCLIProvider(oauth_path=path, base_url=server.base_url, token_url=server.token_url)

Token endpoint (both servers; :class:`OAuthTokenEndpoint`)
    ``POST`` a form with ``grant_type=refresh_token``, ``refresh_token`` and ``client_id``
    (plus ``client_secret`` where the server is given one). A refresh token the server
    issued (:meth:`issue_credentials`) or was told about (:meth:`accept_refresh_token`)
    gets ``{"access_token", "expires_in", "token_type": "Bearer", …}`` — Google adds
    ``scope``; Qwen rotates the refresh token (a new ``refresh_token`` each time, the
    old one is then invalid) and adds ``resource_url``. Refusals use the OAuth shape
    ``{"error", "error_description"}``: an unknown or used refresh token → 400
    ``invalid_grant`` ("Token has been expired or revoked." for Google), a wrong client
    → 401 ``invalid_client`` ("The OAuth client was not found."), another grant type →
    400 ``unsupported_grant_type``, a body that is not a form → 400 ``invalid_request``.
    Token requests are recorded but never take a queued fault. ``clock`` (default
    ``time.time``) decides expiry, so tests can share a fake clock with the provider.

:class:`CodeAssistMockServer` (``base_url`` = ``http://127.0.0.1:PORT``)
    ``POST /v1internal:loadCodeAssist`` → ``{"currentTier", "allowedTiers",
    "cloudaicompanionProject"}`` (the project once the user is onboarded; without it
    before); ``POST /v1internal:onboardUser`` → a long-running operation, ``{"name",
    "done": false}`` for ``onboard_pending`` polls, then ``{"done": true, "response":
    {"cloudaicompanionProject": {"id", "name"}}}``; ``POST
    /v1internal:generateContent`` and ``:streamGenerateContent?alt=sse`` take
    ``{"model", "project", "request"[, "user_prompt_id"]}``, validate ``request`` like
    :class:`~tokenwire.testing.GeminiMockServer` and answer with each Gemini payload
    wrapped as ``{"response": <payload>, "traceId": "…"}`` (recorded payload lines are
    wrapped textually, byte for byte). Bearer tokens must be issued and unexpired: none
    → 401 ``UNAUTHENTICATED`` "Request is missing required authentication credential. …",
    unknown or expired → 401 "Request had invalid authentication credentials. …"; a body
    field other than those four → 400 "Invalid JSON payload received. Unknown name …";
    another project than the server's → 403 ``PERMISSION_DENIED``; unknown paths →
    Google's HTML 404. Faults and in-stream errors (``{"error": {…}}``, unwrapped) are
    those of the Gemini mock.

:class:`QwenMockServer` (``base_url`` = ``http://127.0.0.1:PORT/v1``; ``resource_url`` =
``http://127.0.0.1:PORT``, what the credentials carry)
    :class:`~tokenwire.testing.OpenAIMockServer`'s Chat Completions protocol, validation
    and faults, with bearer tokens issued by ``POST /api/v1/oauth2/token``; an unknown or
    expired token → 401 ``invalid_api_key`` "Invalid access token or token expired".

What is assumed (no authoritative source found): the Code Assist ``traceId`` format, the
operation name, the tier objects' fields beyond ``id``/``isDefault``, the wording of the
Qwen 401 and of the token endpoint errors other than Google's ``invalid_grant``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Union
from urllib.parse import parse_qsl

from tokenwire.testing import synth_gemini
from tokenwire.testing._base import Exchange, ServerOptions
from tokenwire.testing._script import Recording
from tokenwire.testing._server import RecordedRequest, Reply
from tokenwire.testing.faults import Overloaded, QuotaExceeded, RateLimit, ServerFault
from tokenwire.testing.gemini import (
    GeminiWireServer,
    GoogleInvalid,
    estimate_gemini_tokens,
    gemini_echo,
    retry_delay,
)
from tokenwire.testing.openai import OpenAIMockServer, _Invalid
from tokenwire.testing.synth import Answer, _token

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["CodeAssistMockServer", "IssuedAccessToken", "OAuthTokenEndpoint", "QwenMockServer"]

_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_MISSING_CREDENTIALS = f"Request is missing required authentication credential. {_AUTH_HELP}"
_INVALID_CREDENTIALS = f"Request had invalid authentication credentials. {_AUTH_HELP}"
_JSON = "application/json; charset=UTF-8"
_SSE = "text/event-stream"
_WRAPPER_FIELDS = ("model", "project", "request", "user_prompt_id")


@dataclass(frozen=True)
class IssuedAccessToken:
    """An access token a mock issued, and the server-clock time it expires at."""

    token: str
    expires_at: float


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass
class OAuthTokenEndpoint:
    """An OAuth 2.0 refresh-token grant and the access tokens it issued (see the module docs).

    Thread-safe: the mock servers call it from their own thread, tests from theirs.
    """

    client_id: str
    client_secret: Optional[str] = None
    token_lifetime: int = 3599
    rotate_refresh_tokens: bool = False
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    invalid_grant_message: str = "Token has been expired or revoked."
    clock: Callable[[], float] = time.time
    seed: str = "tokenwire"
    prefix: str = "ya29.a0"

    def __post_init__(self) -> None:
        if self.token_lifetime < 1:
            raise ValueError("token_lifetime must be >= 1")
        self._lock = threading.Lock()
        self._access: dict[str, IssuedAccessToken] = {}
        self._refresh: set[str] = set()
        self._count = 0

    def _new(self, kind: str, length: int) -> str:
        self._count += 1
        return _token(f"{self.seed}|{self.prefix}|{kind}|{self._count}", length)

    def accept_refresh_token(self, token: str) -> None:
        """Honour ``token`` as a refresh token."""
        with self._lock:
            self._refresh.add(token)

    def accept_access_token(self, token: str, expires_at: Optional[float] = None) -> None:
        """Accept ``token`` as a bearer token until ``expires_at`` (server clock; ``None``: forever)."""
        with self._lock:
            self._access[token] = IssuedAccessToken(token, float("inf") if expires_at is None else expires_at)

    def revoke(self) -> None:
        """Forget every access and refresh token."""
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    def revoke_access_tokens(self) -> None:
        """Forget the access tokens only (the next API call gets a 401; a refresh still works)."""
        with self._lock:
            self._access.clear()

    def issue_credentials(self, *, expires_in: float = 3600.0, expired: bool = False) -> dict[str, Any]:
        """A credentials document (as the CLI writes it) whose tokens this endpoint honours.
        ``expired=True`` makes its access token already expired (by an hour)."""
        now = self.clock()
        expires_at = now - 3600.0 if expired else now + expires_in
        with self._lock:
            access = f"{self.prefix}.{self._new('access', 48)}"
            refresh = f"1//{self._new('refresh', 40)}"
            self._access[access] = IssuedAccessToken(access, expires_at)
            self._refresh.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expiry_date": int(expires_at * 1000),
        }

    @property
    def issued(self) -> list[IssuedAccessToken]:
        """Every access token accepted so far, oldest first."""
        with self._lock:
            return list(self._access.values())

    def check(self, token: str) -> Optional[str]:
        """``None`` when ``token`` is a valid bearer token, else why not (``"unknown"``/``"expired"``)."""
        with self._lock:
            issued = self._access.get(token)
        if issued is None:
            return "unknown"
        if self.clock() >= issued.expires_at:
            return "expired"
        return None

    def handle(self, request: RecordedRequest) -> Reply:
        """Answer one token endpoint request."""
        try:
            if request.method != "POST":
                raise _OAuthError("invalid_request", "Only POST is supported.", status=405)
            content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                raise _OAuthError("invalid_request", "Request must be application/x-www-form-urlencoded.")
            form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
            grant = form.get("grant_type", "")
            if grant != "refresh_token":
                raise _OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant}")
            if form.get("client_id") != self.client_id or (
                self.client_secret is not None and form.get("client_secret") != self.client_secret
            ):
                raise _OAuthError("invalid_client", "The OAuth client was not found.", status=401)
            refresh = form.get("refresh_token", "")
            if not refresh:
                raise _OAuthError("invalid_request", "Missing required parameter: refresh_token")
            with self._lock:
                if refresh not in self._refresh:
                    raise _OAuthError("invalid_grant", self.invalid_grant_message)
                access = f"{self.prefix}.{self._new('access', 48)}"
                self._access[access] = IssuedAccessToken(access, self.clock() + self.token_lifetime)
                payload: dict[str, Any] = {
                    "access_token": access,
                    "expires_in": self.token_lifetime,
                    "token_type": "Bearer",
                }
                if self.rotate_refresh_tokens:
                    self._refresh.discard(refresh)
                    rotated = f"1//{self._new('refresh', 40)}"
                    self._refresh.add(rotated)
                    payload["refresh_token"] = rotated
                payload.update(self.extra_fields)
        except _OAuthError as error:
            body = json.dumps({"error": error.error, "error_description": error.description}, indent=2).encode()
            return Reply(error.status, _oauth_headers(), [body])
        return Reply(200, _oauth_headers(), [json.dumps(payload, indent=2).encode()])


def _oauth_headers() -> list[tuple[str, str]]:
    return [
        ("content-type", "application/json; charset=utf-8"),
        ("cache-control", "no-cache, no-store, max-age=0, must-revalidate"),
        ("pragma", "no-cache"),
    ]


def _pretty(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


class CodeAssistMockServer(GeminiWireServer):
    """A loopback Code Assist API and Google token endpoint (see the module docs).

    ``project``: the user's Code Assist project. ``onboarded``: whether
    ``loadCodeAssist`` already names it (else ``onboardUser`` must run first).
    ``onboard_pending``: how many ``onboardUser`` calls answer ``done: false`` first.
    ``client_id``/``client_secret``: the OAuth client the token endpoint accepts (the
    Gemini CLI's by default). ``clock``: the server's time function.
    """

    provider = "gemini-cli"
    token_path = "/token"
    api_prefix = "/v1internal:"

    def __init__(
        self,
        *,
        project: str = "tokenwire-code-assist",
        onboarded: bool = True,
        onboard_pending: int = 0,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        token_lifetime: int = 3599,
        clock: Callable[[], float] = time.time,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(api_key=None, **options)
        from tokenwire.providers.gemini_cli import GEMINI_CLI_OAUTH

        self.project = project
        self.onboarded = onboarded
        self.onboard_pending = onboard_pending
        self.oauth = OAuthTokenEndpoint(
            client_id=client_id or GEMINI_CLI_OAUTH.client_id,
            client_secret=client_secret or GEMINI_CLI_OAUTH.client_secret,
            token_lifetime=token_lifetime,
            extra_fields={"scope": "https://www.googleapis.com/auth/cloud-platform openid"},
            clock=clock,
            seed=self._seed,
        )
        self._onboard_calls = 0

    # -- convenience -------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.url}{self.token_path}"

    def issue_credentials(self, *, expires_in: float = 3600.0, expired: bool = False) -> dict[str, Any]:
        """A ``~/.gemini/oauth_creds.json`` document this server honours."""
        document = self.oauth.issue_credentials(expires_in=expires_in, expired=expired)
        document["scope"] = "https://www.googleapis.com/auth/cloud-platform openid"
        return document

    @property
    def token_requests(self) -> list[RecordedRequest]:
        """The requests the token endpoint received."""
        return [r for r in self.requests if r.path == self.token_path]

    @property
    def api_requests(self) -> list[RecordedRequest]:
        """Every request but the token endpoint's."""
        return [r for r in self.requests if r.path != self.token_path]

    def generation_requests(self) -> list[RecordedRequest]:
        """The ``generateContent`` / ``streamGenerateContent`` requests."""
        return [r for r in self.requests if r.path.endswith(("generateContent", "GenerateContent"))]

    # -- dispatch ----------------------------------------------------------------------

    def _dispatch(self, request: RecordedRequest) -> Reply:
        if request.path != self.token_path:
            return super()._dispatch(request)
        # Token requests are infrastructure: recorded, but they never take a queued fault.
        with self._lock:
            self._requests.append(request)
            self._count += 1
        return self.oauth.handle(request)

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        if not request.path.startswith(self.api_prefix) or request.method != "POST":
            return self._html_not_found(request.path)
        method = request.path[len(self.api_prefix) :]
        handlers: dict[str, Callable[[RecordedRequest, Exchange, dict[str, Any]], Reply]] = {
            "loadCodeAssist": self._load,
            "onboardUser": self._onboard,
            "generateContent": self._generate_content,
            "streamGenerateContent": self._generate_content,
        }
        handler = handlers.get(method)
        if handler is None:
            return self._html_not_found(request.path)
        unauthenticated = self._check_bearer(request)
        if unauthenticated is not None:
            return unauthenticated
        try:
            return handler(request, ex, self._parse_json(request))
        except GoogleInvalid as error:
            return self._invalid_reply(error, request.path)

    def _check_bearer(self, request: RecordedRequest) -> Optional[Reply]:
        scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            message, reason, challenge = (
                _MISSING_CREDENTIALS,
                "CREDENTIALS_MISSING",
                'Bearer realm="https://accounts.google.com/"',
            )
        else:
            problem = self.oauth.check(token)
            if problem is None:
                return None
            reason = "ACCESS_TOKEN_EXPIRED" if problem == "expired" else "ACCESS_TOKEN_TYPE_UNSUPPORTED"
            message = _INVALID_CREDENTIALS
            challenge = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "cloudcode-pa.googleapis.com", "method": "google.internal.cloudcode.v1"},
            }
        ]
        return self._google_error(401, message, details=details, headers=[("www-authenticate", challenge)])

    # -- project setup -----------------------------------------------------------------

    def _tiers(self) -> list[dict[str, Any]]:
        return [
            {"id": "free-tier", "name": "Gemini Code Assist for individuals", "isDefault": True},
            {"id": "standard-tier", "name": "Gemini Code Assist", "userDefinedCloudaicompanionProject": True},
        ]

    def _load(self, request: RecordedRequest, ex: Exchange, document: dict[str, Any]) -> Reply:
        self._check_fields(document, {"cloudaicompanionProject", "metadata"}, None)
        answer: dict[str, Any] = {"allowedTiers": self._tiers()}
        if self.onboarded:
            answer["currentTier"] = self._tiers()[0]
            answer["cloudaicompanionProject"] = self.project
        return Reply(200, self._google_headers(_JSON), [_pretty(answer)])

    def _onboard(self, request: RecordedRequest, ex: Exchange, document: dict[str, Any]) -> Reply:
        self._check_fields(document, {"tierId", "cloudaicompanionProject", "metadata"}, None)
        if not isinstance(document.get("tierId"), str) or not document["tierId"]:
            raise GoogleInvalid("* OnboardUserRequest.tier_id: tier_id is required\n")
        with self._lock:
            self._onboard_calls += 1
            calls = self._onboard_calls
        operation: dict[str, Any] = {"name": f"operations/onboard-{calls}"}
        if calls <= self.onboard_pending:
            operation["done"] = False
        else:
            self.onboarded = True
            operation["done"] = True
            operation["response"] = {
                "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
                "cloudaicompanionProject": {"id": self.project, "name": self.project},
            }
        return Reply(200, self._google_headers(_JSON), [_pretty(operation)])

    # -- generation --------------------------------------------------------------------

    def _generate_content(self, request: RecordedRequest, ex: Exchange, document: dict[str, Any]) -> Reply:
        self._check_fields(document, set(_WRAPPER_FIELDS), None)
        model = document.get("model")
        if not isinstance(model, str) or not model:
            raise GoogleInvalid("* GenerateContentRequest.model: model is required\n")
        project = document.get("project")
        if project != self.project:
            return self._google_error(
                403,
                f"Permission 'cloudaicompanion.companions.generateChat' denied on resource "
                f"'//cloudaicompanion.googleapis.com/projects/{project}/locations/global' (or it may not exist).",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED",
                        "domain": "cloudaicompanion.googleapis.com",
                    }
                ],
            )
        if self.models is not None and model not in self.models:
            raise GoogleInvalid(f"Requested entity was not found: model {model}", status=404)
        inner = document.get("request")
        if not isinstance(inner, dict):
            raise GoogleInvalid("* GenerateContentRequest.request: request is required\n")
        self._check_generate(inner)
        stream = request.path.endswith("streamGenerateContent")
        return self._answer(request, ex, inner, model=model, stream=stream, sse=request.query.get("alt") == "sse")

    def _trace_id(self, ex: Exchange) -> str:
        return _token(f"{self._seed}|code-assist-trace|{ex.number}", 16, "0123456789abcdef")

    def _answer(
        self, request: RecordedRequest, ex: Exchange, inner: dict[str, Any], *, model: str, stream: bool, sse: bool
    ) -> Reply:
        ex.model = model
        script = self._next_script(request)
        input_tokens = estimate_gemini_tokens(inner)
        trace_id = self._trace_id(ex)
        trace = json.dumps(trace_id)
        if script is None:
            script = Answer(gemini_echo(inner))
        if isinstance(script, Recording):
            if script.lines is None:  # raw bytes: served as they are
                return self._recording_reply(script, stream=stream)
            # Recorded payloads are wrapped textually, so their bytes reach the client unchanged.
            lines = [f'{{"response":{line},"traceId":{trace}}}' for line in script.lines]
            reply = Reply(script.status, self._google_headers(_SSE), synth_gemini.frame(lines), stream=True)
        elif stream:
            seed = f"{self._seed}|{ex.number}"
            payloads = synth_gemini.chunks(script, model=model, input_tokens=input_tokens, response_id_seed=seed)
            wrapped = [{"response": p, "traceId": trace_id} for p in payloads]
            if sse:
                reply = Reply(200, self._google_headers(_SSE), synth_gemini.frame(wrapped), stream=True)
            else:
                body = ("[" + ",\r\n".join(json.dumps(w, indent=2) for w in wrapped) + "]").encode()
                reply = Reply(200, self._google_headers(_JSON), [body], stream=True)
        else:
            payload = json.loads(
                synth_gemini.body(
                    script, model=model, input_tokens=input_tokens, response_id_seed=f"{self._seed}|{ex.number}"
                )
            )
            reply = Reply(200, self._google_headers(_JSON), [_pretty({"response": payload, "traceId": trace_id})])
        if reply.stream and sse:
            reply.chunks = self._apply_stream_faults(reply.chunks, ex.plan, ex)
        return reply

    def _fault_reply(
        self, fault: Union[RateLimit, QuotaExceeded, ServerFault, Overloaded], request: RecordedRequest, ex: Exchange
    ) -> Reply:
        if isinstance(fault, (RateLimit, QuotaExceeded)):
            details: list[dict[str, Any]] = []
            if isinstance(fault, RateLimit) and fault.retry_after is not None:
                details.append(
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay(fault.retry_after)}
                )
            return self._google_error(
                429,
                "Resource has been exhausted (e.g. check quota).",
                details=details,
                status_name="RESOURCE_EXHAUSTED",
            )
        return self._server_fault(fault)


class QwenMockServer(OpenAIMockServer):
    """A loopback Qwen Code backend: Qwen's OAuth token endpoint and an OpenAI-compatible
    chat endpoint that accepts only the access tokens it issued (see the module docs)."""

    provider = "qwen-code"
    token_path = "/api/v1/oauth2/token"

    def __init__(
        self,
        *,
        client_id: Optional[str] = None,
        token_lifetime: int = 3599,
        clock: Callable[[], float] = time.time,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(api_key=None, **options)
        from tokenwire.providers.qwen_code import QWEN_OAUTH

        self.oauth = OAuthTokenEndpoint(
            client_id=client_id or QWEN_OAUTH.client_id,
            token_lifetime=token_lifetime,
            rotate_refresh_tokens=True,
            clock=clock,
            seed=self._seed,
            prefix="qwen",
            invalid_grant_message="Invalid refresh token or refresh token expired",
        )

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.url}{self.token_path}"

    @property
    def resource_url(self) -> str:
        """What the credentials' ``resource_url`` should say to reach this server (no ``/v1``)."""
        return self.url

    def issue_credentials(self, *, expires_in: float = 3600.0, expired: bool = False) -> dict[str, Any]:
        """A ``~/.qwen/oauth_creds.json`` document this server honours (with ``resource_url``)."""
        document = self.oauth.issue_credentials(expires_in=expires_in, expired=expired)
        document["resource_url"] = self.resource_url
        return document

    @property
    def token_requests(self) -> list[RecordedRequest]:
        """The requests the token endpoint received."""
        return [r for r in self.requests if r.path == self.token_path]

    @property
    def api_requests(self) -> list[RecordedRequest]:
        """Every request but the token endpoint's."""
        return [r for r in self.requests if r.path != self.token_path]

    def _dispatch(self, request: RecordedRequest) -> Reply:
        if request.path != self.token_path:
            return super()._dispatch(request)
        with self._lock:
            self._requests.append(request)
            self._count += 1
        return self.oauth.handle(request)

    def _authenticate(self, request: RecordedRequest) -> None:
        super()._authenticate(request)  # the header's presence and shape
        token = (request.headers.get("authorization") or "").strip().partition(" ")[2].strip()
        if self.oauth.check(token) is not None:
            raise _Invalid("Invalid access token or token expired", status=401, code="invalid_api_key")
