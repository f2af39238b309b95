"""AWS Signature Version 4 request signing, in pure Python (``hashlib`` + ``hmac``).

:func:`sign_request` computes the headers that authenticate one HTTP request to an
AWS service. It follows the generic (non-S3) rules, the ones Bedrock and almost every
other service use, and produces byte-for-byte the signature botocore's ``SigV4Auth``
produces for the same request (checked against botocore on randomized requests and
against AWS's published SigV4 test suite).

The canonical request
    1. the method, upper-cased;
    2. the URI path: dot segments removed and runs of ``/`` collapsed, an empty path
       becoming ``/``; then each byte outside ``A-Z a-z 0-9 - . _ ~ /`` percent-encoded
       (UTF-8). The path is taken *as it appears in the URL*, so an already
       percent-encoded path is encoded a second time (``%3A`` → ``%253A``): that double
       encoding is what non-S3 services expect. Pass the URL exactly as it goes on the
       wire;
    3. the query: ``&``-separated pairs (a key without ``=`` has an empty value, empty
       pieces from ``&&`` are ignored), each key and value percent-decoded and
       re-encoded with the SigV4 unreserved set (so ``%e1`` and ``%E1`` and a raw
       ``ሴ`` are the same), then sorted by key and, for repeated keys, by value.
       ``+`` is a literal plus (RFC 3986), not a space: AWS SDKs never emit it;
    4. the signed headers: every header given except a hop-by-hop/tracing blocklist
       (``user-agent``, ``expect``, ``connection``, ``x-amzn-trace-id``, …, the same
       list as botocore), plus ``host`` derived from the URL when no ``Host`` header is
       given (lower-cased host, with the port unless it is the scheme's default).
       Names are lower-cased and sorted; values are trimmed with inner whitespace runs
       collapsed to one space; a repeated header's values are joined with ``,`` in
       their original order;
    5. the payload hash: hex SHA-256 of the body, or ``UNSIGNED-PAYLOAD``, or the value
       of an ``X-Amz-Content-SHA256`` header the caller supplied (how callers pass a
       precomputed hash).

Headers returned
    ``Authorization`` and ``X-Amz-Date`` always; ``X-Amz-Security-Token`` when a session
    token is given (it is signed, as botocore and every current AWS SDK do); and
    ``X-Amz-Content-SHA256: UNSIGNED-PAYLOAD`` only for unsigned payloads: the service
    must be told the hash was left out, whereas for a signed payload the header is
    optional for non-S3 services (Bedrock does not require it), so it is not added.
    The caller merges these into its headers, *replacing* any header of the same name
    (compared case-insensitively); input headers of those names are not signed.

Divergence from botocore, on purpose: botocore rewrites a ``Date`` header and then
omits ``X-Amz-Date``; here a ``Date`` header is signed as given and ``X-Amz-Date`` is
always added (AWS gives ``X-Amz-Date`` precedence).

The derived signing key depends only on (secret, date, region, service), so it is
cached in a small LRU: one HMAC instead of five per request.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple, Optional, Protocol, Union, cast, runtime_checkable
from urllib.parse import quote, unquote_to_bytes, urlsplit

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "UNSIGNED_PAYLOAD",
    "SigningDetails",
    "canonical_query_string",
    "canonical_request",
    "canonical_uri",
    "credential_scope",
    "format_amz_date",
    "payload_hash",
    "sign_request",
    "sign_request_details",
    "signing_key",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
#: Hex SHA-256 of the empty string: the payload hash of a request without a body.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: Payload hash placeholder telling the service the body is not covered by the signature.
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# Headers a proxy or HTTP client may add, drop or rewrite in transit: signing them would
# make the signature fragile. The same set as botocore's, so signatures stay identical.
_UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED_ONLY = re.compile(r"[A-Za-z0-9\-._~]*")
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


@runtime_checkable
class _MultiItemHeaders(Protocol):
    """A header container that keeps repeated headers apart (``httpx.Headers``)."""

    def multi_items(self) -> list[tuple[str, str]]: ...


HeadersInput = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
"""Headers as a mapping, or as ``(name, value)`` pairs when a name repeats."""

Body = Union[bytes, bytearray, memoryview, str, None]
"""A request body: bytes, or text (hashed as UTF-8), or ``None`` for no body."""


class SigningDetails(NamedTuple):
    """Every intermediate value of one signature, for tests and for debugging a
    ``SignatureDoesNotMatch`` (the service's error message shows its own canonical
    request and string to sign for comparison)."""

    canonical_request: str
    string_to_sign: str
    signature: str
    headers: dict[str, str]
    """The headers to add to the request (what :func:`sign_request` returns)."""


def sign_request(
    method: str,
    url: str,
    headers: HeadersInput,
    body: Body,
    *,
    region: str,
    service: str,
    access_key: str,
    secret_key: str,
    session_token: Optional[str] = None,
    timestamp: Optional[_dt.datetime] = None,
    unsigned_payload: bool = False,
) -> dict[str, str]:
    """Sign a request with AWS Signature Version 4 and return the headers to add.

    Args:
        method: HTTP method (any case).
        url: the full URL as it is sent, query string included.
        headers: the headers the request will carry (a mapping, ``(name, value)`` pairs,
            an ``httpx.Headers``, or ``None``). ``Host`` may be omitted: it is derived
            from ``url`` the way HTTP clients derive it.
        body: the exact body bytes that will be sent (``str`` is hashed as UTF-8).
        region: e.g. ``"us-east-1"``.
        service: the signing name, e.g. ``"bedrock"``.
        access_key: the access key id.
        secret_key: the secret access key.
        session_token: the session token of temporary credentials, if any.
        timestamp: the signing time; ``None`` means now. A naive datetime is taken as
            UTC; an aware one is converted to UTC.
        unsigned_payload: sign ``UNSIGNED-PAYLOAD`` instead of the body's hash (and
            add ``X-Amz-Content-SHA256: UNSIGNED-PAYLOAD``), for streamed bodies or
            services that allow it.

    Returns:
        ``Authorization`` and ``X-Amz-Date``, plus ``X-Amz-Security-Token`` with a
        session token and ``X-Amz-Content-SHA256`` for an unsigned payload. Set them on
        the request, replacing any existing header of the same name.

    Raises:
        ValueError: an empty region, service, access key or secret key, or a URL
            without a host when no ``Host`` header is given.
    """
    return sign_request_details(
        method,
        url,
        headers,
        body,
        region=region,
        service=service,
        access_key=access_key,
        secret_key=secret_key,
        session_token=session_token,
        timestamp=timestamp,
        unsigned_payload=unsigned_payload,
    ).headers


def sign_request_details(
    method: str,
    url: str,
    headers: HeadersInput,
    body: Body,
    *,
    region: str,
    service: str,
    access_key: str,
    secret_key: str,
    session_token: Optional[str] = None,
    timestamp: Optional[_dt.datetime] = None,
    unsigned_payload: bool = False,
) -> SigningDetails:
    """:func:`sign_request`, also returning the canonical request and string to sign."""
    for name, value in (
        ("region", region),
        ("service", service),
        ("access_key", access_key),
        ("secret_key", secret_key),
    ):
        if not value:
            raise ValueError(f"SigV4 signing needs a non-empty {name}")

    amz_date = format_amz_date(timestamp)
    added: dict[str, str] = {"X-Amz-Date": amz_date}
    replaced = {"authorization", "x-amz-date"}
    if session_token:
        added["X-Amz-Security-Token"] = session_token
        replaced.add("x-amz-security-token")
    if unsigned_payload:
        added["X-Amz-Content-SHA256"] = UNSIGNED_PAYLOAD
        replaced.add("x-amz-content-sha256")

    pairs = [(name, value) for name, value in _header_pairs(headers) if name.lower() not in replaced]
    pairs.extend(added.items())
    creq, signed = _canonical_request(method, url, pairs, body)

    scope = credential_scope(amz_date[:8], region, service)
    sts = string_to_sign(amz_date, scope, creq)
    key = signing_key(secret_key, amz_date[:8], region, service)
    signature = hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return SigningDetails(creq, sts, signature, {"Authorization": authorization, **added})


def canonical_request(method: str, url: str, headers: HeadersInput, body: Body = None) -> str:
    """The SigV4 canonical request for a request carrying exactly ``headers``.

    Unlike :func:`sign_request` nothing is added: ``headers`` must already hold
    ``X-Amz-Date`` (and ``X-Amz-Security-Token`` / ``X-Amz-Content-SHA256`` where
    they apply). An ``X-Amz-Content-SHA256`` header's value is used as the payload hash.
    """
    return _canonical_request(method, url, list(_header_pairs(headers)), body)[0]


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """The SigV4 string to sign: algorithm, timestamp, scope, hash of the canonical request."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def credential_scope(date: str, region: str, service: str) -> str:
    """``YYYYMMDD/region/service/aws4_request``."""
    return f"{date}/{region}/{service}/aws4_request"


@functools.lru_cache(maxsize=32)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The derived SigV4 key: HMAC chain ``"AWS4"+secret`` → date → region → service →
    ``aws4_request``. Cached, since it changes once a day per region and service."""
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def format_amz_date(timestamp: Optional[_dt.datetime] = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC; ``None`` means now, a naive datetime is taken as UTC."""
    if timestamp is None:
        timestamp = _dt.datetime.now(_dt.timezone.utc)
    elif timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(_dt.timezone.utc)
    return timestamp.strftime(_AMZ_DATE_FORMAT)


def payload_hash(body: Body) -> str:
    """Hex SHA-256 of the body (``str`` as UTF-8); :data:`EMPTY_SHA256` for no body."""
    if not body:
        return EMPTY_SHA256
    if isinstance(body, str):
        body = body.encode("utf-8")
    return hashlib.sha256(body).hexdigest()


def canonical_uri(path: str) -> str:
    """The canonical URI of a (non-S3) request path, as it appears in the URL.

    Dot segments are removed and empty segments dropped (AWS collapses ``//``), a
    trailing ``/`` is kept when anything remains, and the result is percent-encoded
    with only ``/`` and the unreserved characters left alone: ``%`` becomes ``%25``,
    which is the double encoding non-S3 services apply to an encoded path.
    """
    if not path:
        return "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    normalized = "/".join(segments)
    if path.startswith("/"):
        normalized = "/" + normalized
    if segments and path.endswith("/"):
        normalized += "/"
    return quote(normalized, safe="/~")


def canonical_query_string(query: str) -> str:
    """The canonical query string of a raw URL query (without the ``?``)."""
    if not query:
        return ""
    pairs: list[tuple[str, str]] = []
    for piece in query.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        pairs.append((_encode_query_component(key), _encode_query_component(value)))
    pairs.sort()
    return "&".join(f"{key}={value}" for key, value in pairs)


def _encode_query_component(text: str) -> str:
    # Most keys and values are already canonical; skip the decode/encode round trip.
    if _UNRESERVED_ONLY.fullmatch(text):
        return text
    # Decoding to bytes (not str) keeps invalid UTF-8 escapes intact.
    return quote(unquote_to_bytes(text), safe="-_.~")


def _header_pairs(headers: HeadersInput) -> Iterable[tuple[str, str]]:
    if headers is None:
        return ()
    if isinstance(headers, _MultiItemHeaders):
        return headers.multi_items()
    if isinstance(headers, Mapping):
        return cast("Mapping[str, str]", headers).items()
    return headers


def _host_from_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname  # already lower-cased, userinfo and IPv6 brackets removed
    if not host:
        raise ValueError(f"cannot sign {url!r}: the URL has no host and no Host header was given")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return host


def _canonical_request(method: str, url: str, pairs: Iterable[tuple[str, str]], body: Body) -> tuple[str, str]:
    """(canonical request, signed header list) for a request carrying exactly ``pairs``."""
    values: dict[str, list[str]] = {}
    content_sha256: Optional[str] = None
    for name, value in pairs:
        lname = name.lower()
        if lname == "x-amz-content-sha256" and content_sha256 is None:
            # Used verbatim (untrimmed) as the payload hash, as botocore does.
            content_sha256 = value
        if lname in _UNSIGNED_HEADERS:
            continue
        # Trim and collapse whitespace; str.split() is the definition botocore uses too.
        values.setdefault(lname, []).append(" ".join(value.split()))
    if "host" not in values:
        values["host"] = [_host_from_url(url)]

    names = sorted(values)
    canonical_headers = "".join(f"{name}:{','.join(values[name])}\n" for name in names)
    signed = ";".join(names)
    parts = urlsplit(url)
    body_hash = content_sha256 if content_sha256 is not None else payload_hash(body)
    creq = "\n".join(
        (
            method.upper(),
            canonical_uri(parts.path),
            canonical_query_string(parts.query),
            canonical_headers,
            signed,
            body_hash,
        )
    )
    return creq, signed
