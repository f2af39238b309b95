"""A loopback mock of Vertex AI: an OAuth token endpoint and the prediction endpoints for
Gemini and Anthropic Claude models.

::

    from tokenwire.testing import VertexMockServer

    with VertexMockServer(project="my-project") as server:
        info = server.service_account()          # a fresh RSA key, trusted by the server
        provider = VertexProvider(credentials=info, project="my-project", base_url=server.base_url)

Routes (``base_url`` = ``http://127.0.0.1:PORT``; ``token_url`` = ``{base_url}/token``):

- ``POST /token`` — the OAuth 2.0 JWT-bearer grant (a form with ``grant_type`` and
  ``assertion``). The assertion must be an RS256 JWT signed by the private key of a
  service account the server trusts (:meth:`VertexMockServer.service_account` or
  :meth:`VertexMockServer.trust`): the signature is verified with that account's public
  key (``cryptography``); ``iss`` must be its ``client_email``, ``kid`` (when sent) its
  ``private_key_id``, ``aud`` the token URL, ``scope`` must include
  ``https://www.googleapis.com/auth/cloud-platform``, and ``iat``/``exp`` must be a
  window of at most an hour around the server's clock. Success:
  ``{"access_token": "ya29.c.…", "expires_in": token_lifetime, "token_type": "Bearer"}``;
  refusals use Google's OAuth shape ``{"error", "error_description"}`` (``invalid_grant``
  "Invalid JWT Signature.", "Invalid grant: account not found", "Invalid JWT: Token
  must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat
  and exp values in the JWT claim."; ``invalid_scope``; ``unsupported_grant_type``).
  Token requests are recorded but never consume a queued fault or script.
- ``POST /v1/projects/{project}/locations/{region}/publishers/google/models/{model}:``
  ``generateContent`` | ``streamGenerateContent?alt=sse`` | ``countTokens`` — the Gemini
  protocol exactly as :class:`~tokenwire.testing.GeminiMockServer` speaks it.
- ``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:``
  ``rawPredict`` | ``streamRawPredict`` — the Anthropic Messages protocol (answers as
  :class:`~tokenwire.testing.AnthropicMockServer` renders them); the body must carry
  ``"anthropic_version": "vertex-2023-10-16"`` and must not carry ``model``.
  ``models/count-tokens:rawPredict`` answers ``{"input_tokens": N}`` (the body names the
  model there).

Every prediction request needs ``Authorization: Bearer <token>`` with a token the
server issued and that has not expired by its clock (or one given to
:meth:`VertexMockServer.accept_token`): none → 401 ``UNAUTHENTICATED`` "Request is
missing required authentication credential. …" (``CREDENTIALS_MISSING``); unknown or
expired → 401 "Request had invalid authentication credentials. …"
(``ACCESS_TOKEN_TYPE_UNSUPPORTED`` / ``ACCESS_TOKEN_EXPIRED``). With ``project`` set,
another project → 403 ``PERMISSION_DENIED`` on ``aiplatform.endpoints.predict``; with a
model allowlist, an unknown model → 404 "Publisher Model `…` was not found or your
project does not have access to it. …".

Faults: on Gemini routes as the Gemini mock; on Claude routes ``Overloaded`` → 529
``overloaded_error`` and ``ErrorEvent`` → Anthropic's ``event: error``, while
``RateLimit``/``QuotaExceeded`` → Vertex's 429 ``RESOURCE_EXHAUSTED`` ("Resource
exhausted. Please try again later. …"; ``RetryInfo`` only when ``retry_after`` is set)
and ``ServerFault`` → Google-shaped 5xx on both.

``clock`` (default ``time.time``) drives token expiry and the JWT time checks, so tests
can share a fake clock with the provider's token cache.

What is assumed (no authoritative source found): the wording of the audience-check
error, of the Claude body checks (``anthropic_version``, ``model``), the 5xx messages,
and that Vertex answers Claude throttling in Google's shape.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Union
from urllib.parse import parse_qsl

from tokenwire.testing._base import Exchange, ServerOptions, echo, estimate_request_tokens
from tokenwire.testing._server import RecordedRequest, Reply
from tokenwire.testing.faults import Overloaded, QuotaExceeded, RateLimit, ServerFault
from tokenwire.testing.gemini import GeminiWireServer, GoogleInvalid, estimate_gemini_tokens, retry_delay
from tokenwire.testing.synth import Protocol, _token

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ANTHROPIC_VERTEX_VERSION", "VertexMockServer", "make_service_account"]

ANTHROPIC_VERTEX_VERSION = "vertex-2023-10-16"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_MISSING_CREDENTIALS = f"Request is missing required authentication credential. {_AUTH_HELP}"
_INVALID_CREDENTIALS = f"Request had invalid authentication credentials. {_AUTH_HELP}"
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and "
    "exp values in the JWT claim."
)
_EXHAUSTED = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
_METHODS = {
    "google": ("generateContent", "streamGenerateContent", "countTokens"),
    "anthropic": ("rawPredict", "streamRawPredict"),
}
_SKEW = 300  # seconds of clock skew tolerated on iat/exp


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        raise RuntimeError(
            "the Vertex mock's service accounts need cryptography: pip install tokenwire[vertex]"
        ) from None


def make_service_account(
    token_uri: str,
    *,
    project_id: str = "tokenwire-test",
    client_email: Optional[str] = None,
    key_size: int = 2048,
) -> dict[str, Any]:
    """A service-account JSON document (as the Cloud console downloads it) with a freshly
    generated RSA key. Nothing is written to disk; the key lives only in the returned dict."""
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_id = hashlib.sha1(public).hexdigest()  # an identifier, not a security hash
    email = client_email or f"tokenwire-test@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": email,
        "client_id": str(int(key_id[:16], 16)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}",
        "universe_domain": "googleapis.com",
    }


@dataclass(frozen=True)
class _Account:
    public_key: Any
    key_id: Optional[str]


@dataclass(frozen=True)
class IssuedToken:
    """An access token the mock issued: for whom, and when it expires (server clock)."""

    token: str
    client_email: str
    expires_at: float


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class _AnthropicInvalid(Exception):
    def __init__(self, message: str, *, status: int = 400, type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message, self.status, self.type = message, status, type


class VertexMockServer(GeminiWireServer):
    """A loopback Vertex AI (see the module docs).

    ``project``: the only project accepted (``None``: any). ``token_lifetime``: the
    ``expires_in`` of issued tokens. ``clock``: the server's time function.
    ``models``: an allowlist of model ids (any publisher). ``access_tokens``: extra
    bearer tokens accepted as they are (e.g. for ``access_token=`` clients).
    """

    provider = "vertex"
    token_path = "/token"

    def __init__(
        self,
        *,
        project: Optional[str] = None,
        access_tokens: Sequence[str] = (),
        token_lifetime: int = 3599,
        clock: Callable[[], float] = time.time,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(api_key=None, **options)
        if token_lifetime < 1:
            raise ValueError("token_lifetime must be >= 1")
        self.project = project
        self.token_lifetime = token_lifetime
        self.clock = clock
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._static_tokens: set[str] = set(access_tokens)
        self._token_lock = threading.Lock()
        self._issued = 0

    # -- credentials -----------------------------------------------------------

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint (the ``token_uri`` of the service accounts)."""
        return f"{self.url}{self.token_path}"

    def service_account(
        self, *, project_id: Optional[str] = None, client_email: Optional[str] = None, key_size: int = 2048
    ) -> dict[str, Any]:
        """A new service-account JSON document whose key this server trusts (running servers only)."""
        info = make_service_account(
            self.token_url,
            project_id=project_id or self.project or "tokenwire-test",
            client_email=client_email,
            key_size=key_size,
        )
        self.trust(info)
        return info

    def trust(self, info: Mapping[str, Any]) -> None:
        """Trust the service account of ``info`` (its ``private_key`` gives the public key)."""
        _require_cryptography()
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(str(info["private_key"]).encode(), password=None)
        with self._token_lock:
            self._accounts[str(info["client_email"])] = _Account(private.public_key(), info.get("private_key_id"))

    def accept_token(self, token: str) -> None:
        """Accept ``token`` as a bearer token (it never expires)."""
        with self._token_lock:
            self._static_tokens.add(token)

    def revoke_tokens(self) -> None:
        """Forget every issued token (the next prediction with one gets a 401)."""
        with self._token_lock:
            self._tokens.clear()

    @property
    def issued_tokens(self) -> list[IssuedToken]:
        """The access tokens issued so far, oldest first."""
        with self._token_lock:
            return list(self._tokens.values())

    @property
    def token_requests(self) -> list[RecordedRequest]:
        """The requests the token endpoint received."""
        return [r for r in self.requests if r.path == self.token_path]

    @property
    def prediction_requests(self) -> list[RecordedRequest]:
        """Every request but the token endpoint's."""
        return [r for r in self.requests if r.path != self.token_path]

    # -- dispatch ----------------------------------------------------------------

    def _dispatch(self, request: RecordedRequest) -> Reply:
        if request.path != self.token_path:
            return super()._dispatch(request)
        # Token requests are infrastructure: recorded, but they never take a queued fault.
        with self._lock:
            self._requests.append(request)
            self._count += 1
        return self._token_endpoint(request)

    def _token_endpoint(self, request: RecordedRequest) -> Reply:
        try:
            if request.method != "POST":
                raise _OAuthError("invalid_request", "Only POST is supported", status=405)
            form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
            grant = form.get("grant_type", "")
            if grant != _JWT_GRANT:
                raise _OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant}")
            assertion = form.get("assertion", "")
            if not assertion:
                raise _OAuthError("invalid_request", "Missing required parameter: assertion")
            email = self._verify(assertion)
        except _OAuthError as error:
            body = json.dumps({"error": error.error, "error_description": error.description}, indent=2).encode()
            return Reply(error.status, self._oauth_headers(), [body])
        with self._token_lock:
            self._issued += 1
            token = "ya29.c." + _token(f"{self._seed}|vertex-token|{self._issued}", 120)
            expires = self.clock() + self.token_lifetime
            self._tokens[token] = IssuedToken(token, email, expires)
        payload = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return Reply(200, self._oauth_headers(), [json.dumps(payload, indent=2).encode()])

    @staticmethod
    def _oauth_headers() -> list[tuple[str, str]]:
        return [
            ("content-type", "application/json; charset=utf-8"),
            ("cache-control", "no-cache, no-store, max-age=0, must-revalidate"),
            ("pragma", "no-cache"),
        ]

    def _verify(self, assertion: str) -> str:
        """Check the JWT assertion (see the module docs); its ``iss`` when valid."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        pieces = assertion.split(".")
        if len(pieces) != 3:
            raise _OAuthError("invalid_grant", "Invalid JWT: not a signed JWT (expected three segments)")
        try:
            header = json.loads(_b64url(pieces[0]))
            claims = json.loads(_b64url(pieces[1]))
            signature = _b64url(pieces[2])
        except ValueError:
            raise _OAuthError("invalid_grant", "Invalid JWT: segments are not base64url JSON") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _OAuthError("invalid_grant", "Invalid JWT: segments are not JSON objects")
        if header.get("alg") != "RS256":
            raise _OAuthError("invalid_grant", "Invalid JWT: the algorithm must be RS256")
        email = claims.get("iss")
        with self._token_lock:
            account = self._accounts.get(email) if isinstance(email, str) else None
        if account is None:
            raise _OAuthError("invalid_grant", "Invalid grant: account not found")
        kid = header.get("kid")
        if kid is not None and account.key_id is not None and kid != account.key_id:
            raise _OAuthError("invalid_grant", "Invalid JWT Signature.")
        try:
            account.public_key.verify(
                signature, f"{pieces[0]}.{pieces[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise _OAuthError("invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("aud") != self.token_url:
            raise _OAuthError(
                "invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {self.token_url}"
            )
        scope = claims.get("scope")
        if not isinstance(scope, str) or CLOUD_PLATFORM_SCOPE not in scope.split():
            raise _OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        issued, expires = claims.get("iat"), claims.get("exp")
        now = self.clock()
        if (
            not isinstance(issued, int)
            or not isinstance(expires, int)
            or isinstance(issued, bool)
            or isinstance(expires, bool)
            or expires <= issued
            or expires - issued > 3600
            or issued > now + _SKEW
            or expires < now - _SKEW
        ):
            raise _OAuthError("invalid_grant", _SHORT_LIVED)
        return str(email)

    def _check_bearer(self, request: RecordedRequest, method_name: str) -> None:
        scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
        token = token.strip()
        metadata = {
            "method": f"google.cloud.aiplatform.v1.PredictionService.{method_name}",
            "service": "aiplatform.googleapis.com",
        }
        if scheme.lower() != "bearer" or not token:
            raise _Unauthenticated(_MISSING_CREDENTIALS, "CREDENTIALS_MISSING", metadata, missing=True)
        with self._token_lock:
            if token in self._static_tokens:
                return
            issued = self._tokens.get(token)
        if issued is None:
            raise _Unauthenticated(_INVALID_CREDENTIALS, "ACCESS_TOKEN_TYPE_UNSUPPORTED", metadata)
        if self.clock() >= issued.expires_at:
            raise _Unauthenticated(_INVALID_CREDENTIALS, "ACCESS_TOKEN_EXPIRED", metadata)

    # -- routing -------------------------------------------------------------------

    def _parse_path(self, path: str) -> Optional[tuple[str, str, str, str, str, str]]:
        """``(version, project, region, publisher, model, method)`` of a prediction path."""
        pieces = path.lstrip("/").split("/")
        if (
            len(pieces) != 9
            or pieces[0] not in self.api_versions
            or pieces[1] != "projects"
            or pieces[3] != "locations"
            or pieces[5] != "publishers"
            or pieces[7] != "models"
        ):
            return None
        model, colon, method = pieces[8].partition(":")
        if not colon or not model:
            return None
        return pieces[0], pieces[2], pieces[4], pieces[6], model, method

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        parsed = self._parse_path(request.path)
        if parsed is None or request.method != "POST":
            return self._html_not_found(request.path)
        _version, project, region, publisher, model, method = parsed
        if publisher not in _METHODS or method not in _METHODS[publisher]:
            return self._html_not_found(request.path)
        resource = f"projects/{project}/locations/{region}/publishers/{publisher}/models/{model}"
        try:
            self._check_bearer(request, _rpc_name(method))
        except _Unauthenticated as error:
            return self._unauthenticated(error)
        if self.project is not None and project != self.project:
            return self._google_error(
                403,
                "Permission 'aiplatform.endpoints.predict' denied on resource "
                f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED",
                        "domain": "aiplatform.googleapis.com",
                        "metadata": {"permission": "aiplatform.endpoints.predict", "resource": resource},
                    }
                ],
            )
        counting = publisher == "anthropic" and model == "count-tokens"
        if self.models is not None and not counting and model not in self.models:
            return self._google_error(
                404,
                f"Publisher Model `{resource}` was not found or your project does not have access to it. Please "
                "ensure you are using a valid model version. For more information, see: "
                "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
            )
        if publisher == "google":
            return self._gemini(request, ex, model, method)
        return self._claude(request, ex, model, method, counting=counting)

    def _unauthenticated(self, error: _Unauthenticated) -> Reply:
        challenge = 'Bearer realm="https://accounts.google.com/"'
        if not error.missing:
            challenge += ', error="invalid_token"'
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": error.reason,
                "domain": "googleapis.com",
                "metadata": error.metadata,
            }
        ]
        return self._google_error(401, error.message, details=details, headers=[("www-authenticate", challenge)])

    def _gemini(self, request: RecordedRequest, ex: Exchange, model: str, method: str) -> Reply:
        try:
            document = self._parse_json(request)
            if method == "countTokens":
                self._check_fields(
                    document,
                    {
                        "contents",
                        "systemInstruction",
                        "system_instruction",
                        "tools",
                        "model",
                        "instances",
                        "generationConfig",
                    },
                    None,
                )
                self._check_generate({k: v for k, v in document.items() if k != "instances"})
                total = estimate_gemini_tokens(document)
                body = {"totalTokens": total, "totalBillableCharacters": total * 4}
                return Reply(200, self._google_headers("application/json; charset=UTF-8"), [_pretty(body)])
            self._check_generate(document)
        except GoogleInvalid as error:
            return self._invalid_reply(error, request.path)
        return self._gemini_generate(
            request,
            ex,
            document,
            model=model,
            stream=method == "streamGenerateContent",
            sse=request.query.get("alt") == "sse",
        )

    # -- Claude ------------------------------------------------------------------------

    def _anthropic_error(self, status: int, type: str, message: str) -> Reply:
        payload = {"type": "error", "error": {"type": type, "message": message}}
        return Reply(
            status, self._google_headers("application/json"), [json.dumps(payload, separators=(",", ":")).encode()]
        )

    def _claude(self, request: RecordedRequest, ex: Exchange, model: str, method: str, *, counting: bool) -> Reply:
        try:
            try:
                document = json.loads(request.body)
            except ValueError as exc:
                raise _AnthropicInvalid(f"The request body is not valid JSON: {exc}") from None
            if not isinstance(document, dict):
                raise _AnthropicInvalid("The request body is not valid JSON: expected a JSON object")
            version = document.get("anthropic_version")
            if version is None:
                raise _AnthropicInvalid("anthropic_version: Field required")
            if version != ANTHROPIC_VERTEX_VERSION:
                raise _AnthropicInvalid(f"anthropic_version: Input should be '{ANTHROPIC_VERTEX_VERSION}'")
            _check_claude_messages(document)
            if counting:
                if not isinstance(document.get("model"), str) or not document.get("model"):
                    raise _AnthropicInvalid("model: Field required")
                body = json.dumps({"input_tokens": estimate_request_tokens(document)}).encode()
                return Reply(200, self._google_headers("application/json"), [body])
            if "model" in document:
                raise _AnthropicInvalid("model: Extra inputs are not permitted")
            max_tokens = document.get("max_tokens")
            if max_tokens is None:
                raise _AnthropicInvalid("max_tokens: Field required")
            if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
                raise _AnthropicInvalid("max_tokens: Input should be a valid integer greater than or equal to 1")
            _check_claude_thinking(document, max_tokens)
        except _AnthropicInvalid as error:
            return self._anthropic_error(error.status, error.type, error.message)
        return self._generate(
            request,
            ex,
            document,
            protocol="anthropic",
            stream=method == "streamRawPredict",
            model=model,
            max_output=max_tokens,
        )

    # -- faults, per protocol -----------------------------------------------------------

    def _fault_reply(
        self, fault: Union[RateLimit, QuotaExceeded, ServerFault, Overloaded], request: RecordedRequest, ex: Exchange
    ) -> Reply:
        parsed = self._parse_path(request.path)
        publisher = parsed[3] if parsed is not None else "google"
        if isinstance(fault, (RateLimit, QuotaExceeded)):
            details: list[dict[str, Any]] = []
            if isinstance(fault, RateLimit) and fault.retry_after is not None:
                details.append(
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay(fault.retry_after)}
                )
            return self._google_error(429, _EXHAUSTED, details=details)
        if isinstance(fault, Overloaded) and publisher == "anthropic":
            return self._anthropic_error(529, "overloaded_error", "Overloaded")
        return self._server_fault(fault)

    def _stream_error(
        self, error_type: Optional[str], message: Optional[str], ex: Exchange, sequence: int
    ) -> list[bytes]:
        if ex.protocol == "anthropic":
            payload = {
                "type": "error",
                "error": {"type": error_type or "overloaded_error", "message": message or "Overloaded"},
            }
            return [f"event: error\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()]
        return self._gemini_stream_error(error_type, message)

    def _echo_text(self, document: dict[str, Any], protocol: Protocol) -> str:
        if protocol == "anthropic":
            return _claude_echo(document)
        return super()._echo_text(document, protocol)


class _Unauthenticated(Exception):
    def __init__(self, message: str, reason: str, metadata: Mapping[str, str], *, missing: bool = False) -> None:
        super().__init__(message)
        self.message, self.reason, self.metadata, self.missing = message, reason, dict(metadata), missing


def _rpc_name(method: str) -> str:
    return {
        "generateContent": "GenerateContent",
        "streamGenerateContent": "StreamGenerateContent",
        "countTokens": "CountTokens",
        "rawPredict": "RawPredict",
        "streamRawPredict": "StreamRawPredict",
    }.get(method, method)


def _pretty(document: Any) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


def _check_claude_messages(document: Mapping[str, Any]) -> None:
    messages = document.get("messages")
    if messages is None:
        raise _AnthropicInvalid("messages: Field required")
    if not isinstance(messages, list) or not messages:
        raise _AnthropicInvalid("messages: at least one message is required")
    for index, message in enumerate(messages):  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(message, dict):
            raise _AnthropicInvalid(f"messages.{index}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise _AnthropicInvalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise _AnthropicInvalid(f"messages.{index}.content: Field required")
    if messages[0].get("role") != "user":
        raise _AnthropicInvalid('messages: first message must use the "user" role')


def _check_claude_thinking(document: Mapping[str, Any], max_tokens: int) -> None:
    thinking = document.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise _AnthropicInvalid("thinking.enabled.budget_tokens: Input should be a valid integer")
    if budget < 1024:
        raise _AnthropicInvalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if budget >= max_tokens:
        raise _AnthropicInvalid("`max_tokens` must be greater than `thinking.budget_tokens`.")


def _claude_echo(document: Mapping[str, Any]) -> str:
    for message in reversed(document.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return echo(content)
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        results = [b for b in blocks if b.get("type") == "tool_result"]
        if results:
            inner = results[-1].get("content")
            if isinstance(inner, list):
                inner = " ".join(str(b.get("text")) for b in inner if isinstance(b, dict) and b.get("type") == "text")
            return f"The tool returned: {inner if isinstance(inner, str) else json.dumps(inner)}"
        return echo(" ".join(str(b.get("text")) for b in blocks if b.get("type") == "text"))
    return echo("")
