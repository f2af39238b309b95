"""``tokenwire.aws.sign_request`` against botocore's ``SigV4Auth`` on randomized requests.

botocore is a dev-only dependency and the oracle: each case builds a random request
(method, URL with awkward paths and queries, header sets with duplicates, blocklisted
and stale auth headers, body, session token, signed or unsigned payload, time), signs
it with both, and requires the same canonical request and the same final header set.
Only botocore is patched (its clock); tokenwire gets the time as an argument.

Queries are given to botocore in its two forms: the URL's own query (the exact same URL
string as ours, canonically spelled), or decoded ``params`` while our URL spells the
same pairs untidily (lower-case escapes, raw UTF-8, raw reserved characters, bare keys,
empty ``&&`` pieces) — which must canonicalize the same.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from typing import Any, NamedTuple, Optional, Union
from urllib.parse import quote

import pytest

from tokenwire.aws import sign_request_details

botocore_auth = pytest.importorskip("botocore.auth")
botocore_awsrequest = pytest.importorskip("botocore.awsrequest")
botocore_credentials = pytest.importorskip("botocore.credentials")

CASES = 300

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "Post"]
ORIGINS = [
    "https://bedrock-runtime.us-east-1.amazonaws.com",
    "https://bedrock.eu-central-1.amazonaws.com",
    "https://Example.AmazonAWS.com",
    "https://example.com:443",
    "https://example.com:8443",
    "http://localhost:8080",
    "http://127.0.0.1",
    "http://[::1]:9000",
    "https://user:secret@host.example.com",
]
SERVICES = ["bedrock", "service", "execute-api", "sts", "lambda"]
REGIONS = ["us-east-1", "eu-central-1", "ap-southeast-2", "us-gov-west-1"]
# Path characters: unreserved, reserved, '~', '%', spaces and non-ASCII. '?' and '#'
# would end the path, so they only appear percent-encoded.
PATH_PIECES = [
    *string.ascii_letters,
    *string.digits,
    "-",
    ".",
    "_",
    "~",
    " ",
    "%",
    ":",
    "@",
    "!",
    "$",
    "&",
    "'",
    "(",
    ")",
    "*",
    "+",
    ",",
    ";",
    "=",
    "é",
    "ሴ",
    "😀",
    "%3A",
    "%2F",
    "%3F",
    "%23",
    "%20",
    "%e2%82%ac",
]
SEGMENTS = ["", ".", "..", "model", "converse-stream", "anthropic.claude-3-haiku-20240307-v1:0"]
QUERY_CHARS = [*string.ascii_letters, *string.digits, *"-_.~ !$'()*+,;:@/?=&#%[]", "é", "ሴ", "😀"]
HEADER_NAMES = [
    "Content-Type",
    "content-type",
    "Accept",
    "X-Amz-Target",
    "X-Amzn-Bedrock-Trace",
    "X-Custom",
    "x-custom",
    "X-Other-Header",
    "Content-Encoding",
    "If-Match",
    # Blocklisted: never signed.
    "User-Agent",
    "Expect",
    "X-Amzn-Trace-Id",
    "Connection",
    "Transfer-Encoding",
    "Traceparent",
]
HEADER_VALUE_CHARS = [*string.ascii_letters, *string.digits, *" \t-_.,;:/=\"'()", "é", "\x0b", "\x0c"]
ASCII_TOKEN_CHARS = string.ascii_letters + string.digits + "/+="


class Case(NamedTuple):
    method: str
    url: str  # ours
    oracle_url: str  # botocore's (without the query when oracle_params is used)
    oracle_params: Optional[list[tuple[str, str]]]
    headers: list[tuple[str, str]]
    body: Union[bytes, str, None]
    region: str
    service: str
    access_key: str
    secret_key: str
    session_token: Optional[str]
    unsigned_payload: bool
    timestamp: dt.datetime


def _text(rng: random.Random, chars: list[str], low: int, high: int) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(low, high)))


def _path(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return ""
    segments = [
        rng.choice(SEGMENTS) if rng.random() < 0.3 else _text(rng, PATH_PIECES, 1, 8) for _ in range(rng.randint(0, 5))
    ]
    path = "/" + "/".join(segments)
    if rng.random() < 0.2:
        path += "/"
    # A lone '%' may be followed by hex digits and read as an escape by a server; both
    # signers see the same string and encode it to '%25', which is what is compared.
    return path


def _tidy(component: str) -> str:
    return quote(component, safe="-_.~")


def _untidy(rng: random.Random, component: str, *, is_key: bool) -> str:
    """Another spelling that decodes to ``component``."""
    out: list[str] = []
    for ch in component:
        raw_ok = ch not in "&#%+" and not (is_key and ch == "=")
        roll = rng.random()
        if raw_ok and roll < 0.5:
            out.append(ch)
        elif roll < 0.75:
            out.append("".join(f"%{b:02X}" for b in ch.encode()))  # even unreserved ones
        else:
            out.append("".join(f"%{b:02x}" for b in ch.encode()))
    return "".join(out)


def _query(rng: random.Random) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for _ in range(rng.randint(0, 6)):
        if pairs and rng.random() < 0.25:
            key = rng.choice(pairs)[0]  # a repeated key
        else:
            key = _text(rng, QUERY_CHARS, 0 if rng.random() < 0.05 else 1, 8)
        value = "" if rng.random() < 0.25 else _text(rng, QUERY_CHARS, 1, 10)
        pairs.append((key, value))
    return pairs


def _headers(rng: random.Random) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for _ in range(rng.randint(0, 7)):
        name = rng.choice(HEADER_NAMES)
        value = _text(rng, HEADER_VALUE_CHARS, 0, 16)
        if rng.random() < 0.3:
            value = "  " + value + " \t "
        headers.append((name, value))
    roll = rng.random()
    if roll < 0.15:
        headers.append((rng.choice(["Host", "host"]), rng.choice(["custom.example", " spaced.example  "])))
    # Stale auth headers from a previous attempt: both signers must replace them.
    if rng.random() < 0.15:
        headers.append(("Authorization", "AWS4-HMAC-SHA256 Credential=stale"))
    if rng.random() < 0.15:
        headers.append(("X-Amz-Date", "19990101T000000Z"))
    if rng.random() < 0.1:
        headers.append(("X-Amz-Security-Token", "stale-token"))
    if rng.random() < 0.1:
        headers.append(("X-Amz-Content-SHA256", rng.choice(["ab" * 32, "UNSIGNED-PAYLOAD"])))
    rng.shuffle(headers)
    return headers


def _body(rng: random.Random) -> Union[bytes, str, None]:
    roll = rng.random()
    if roll < 0.2:
        return None
    if roll < 0.3:
        return b""
    if roll < 0.6:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
    if roll < 0.8:
        return '{"messages":[{"role":"user","content":"' + _text(rng, QUERY_CHARS, 0, 40) + '"}]}'
    return _text(rng, QUERY_CHARS, 1, 60).encode()


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    origin = rng.choice(ORIGINS)
    path = _path(rng)
    pairs = _query(rng)
    if pairs and rng.random() < 0.5:
        # botocore reads the query from the very same URL.
        query = "&".join(f"{_tidy(k)}={_tidy(v)}" for k, v in pairs)
        url = oracle_url = f"{origin}{path}?{query}"
        oracle_params = None
    else:
        pieces: list[str] = []
        for k, v in pairs:
            key = _untidy(rng, k, is_key=True)
            if v == "" and key and rng.random() < 0.5:
                pieces.append(key)  # a bare key means an empty value
            else:
                pieces.append(f"{key}={_untidy(rng, v, is_key=False)}")
            if rng.random() < 0.1:
                pieces.append("")  # '&&': an empty piece, ignored
        url = f"{origin}{path}" + ("?" + "&".join(pieces) if pieces else "")
        oracle_url = f"{origin}{path}"
        oracle_params = pairs
    timestamp = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=rng.randint(0, 3_155_760_000))
    return Case(
        method=rng.choice(METHODS),
        url=url,
        oracle_url=oracle_url,
        oracle_params=oracle_params,
        headers=_headers(rng),
        body=_body(rng),
        region=rng.choice(REGIONS),
        service=rng.choice(SERVICES),
        access_key="AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
        secret_key="".join(rng.choice(ASCII_TOKEN_CHARS) for _ in range(40)),
        session_token=None
        if rng.random() < 0.5
        else "".join(rng.choice(ASCII_TOKEN_CHARS) for _ in range(rng.randint(16, 300))),
        unsigned_payload=rng.random() < 0.3,
        timestamp=timestamp,
    )


def botocore_sign(case: Case, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[tuple[str, str]]]:
    """(canonical request, final headers) as botocore's SigV4Auth produces them."""
    # Freeze botocore's clock only; naive UTC is what botocore's own clock returns.
    frozen = case.timestamp.replace(tzinfo=None)
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: frozen)
    request: Any = botocore_awsrequest.AWSRequest(
        method=case.method, url=case.oracle_url, data=case.body, params=case.oracle_params or {}
    )
    for name, value in case.headers:
        request.headers[name] = value  # HTTPHeaders appends: duplicates are kept
    if case.unsigned_payload:
        request.context["payload_signing_enabled"] = False
    credentials = botocore_credentials.Credentials(case.access_key, case.secret_key, case.session_token)
    signer: Any = botocore_auth.SigV4Auth(credentials, case.service, case.region)
    # Capture the canonical request add_auth signs (recomputing it afterwards would
    # include the new Authorization header).
    captured: list[str] = []
    compute = signer.canonical_request

    def spy(req: Any) -> str:
        captured.append(compute(req))
        return captured[-1]

    signer.canonical_request = spy
    signer.add_auth(request)
    assert len(captured) == 1
    return captured[0], list(request.headers.items())


def apply(headers: list[tuple[str, str]], added: dict[str, str]) -> list[tuple[str, str]]:
    """The request headers after setting ``added`` (replacing same-named ones)."""
    replaced = {name.lower() for name in added}
    return [(n, v) for n, v in headers if n.lower() not in replaced] + list(added.items())


def normalized(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((name.lower(), value) for name, value in headers)


def test_case_count() -> None:
    assert CASES >= 200


@pytest.mark.parametrize("seed", range(CASES))
def test_matches_botocore(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    case = make_case(seed)
    expected_creq, expected_headers = botocore_sign(case, monkeypatch)
    # Half the time the naive form of the timestamp: it is taken as UTC.
    timestamp = case.timestamp if seed % 2 else case.timestamp.replace(tzinfo=None)
    ours = sign_request_details(
        case.method,
        case.url,
        case.headers,
        case.body,
        region=case.region,
        service=case.service,
        access_key=case.access_key,
        secret_key=case.secret_key,
        session_token=case.session_token,
        timestamp=timestamp,
        unsigned_payload=case.unsigned_payload,
    )
    assert ours.canonical_request == expected_creq, case
    assert normalized(apply(case.headers, ours.headers)) == normalized(expected_headers), case
    expected = {n.lower(): v for n, v in expected_headers}
    assert ours.headers["Authorization"] == expected["authorization"]
    assert ours.headers["X-Amz-Date"] == expected["x-amz-date"]
    if case.session_token:
        assert ours.headers["X-Amz-Security-Token"] == case.session_token
    else:
        assert "X-Amz-Security-Token" not in ours.headers


def test_generator_covers_the_interesting_shapes() -> None:
    """The random cases do exercise what they claim to (so a pass means something)."""
    cases = [make_case(seed) for seed in range(CASES)]
    assert sum(c.session_token is not None for c in cases) > CASES // 4
    assert sum(c.unsigned_payload for c in cases) > CASES // 6
    assert sum(c.oracle_params is not None and bool(c.oracle_params) for c in cases) > CASES // 5
    assert sum(c.oracle_params is None and "?" in c.url for c in cases) > CASES // 5
    assert any("%" in c.url.split("?")[0].split("/", 3)[-1] for c in cases)
    assert any("//" in c.url.split("://", 1)[1] for c in cases)
    assert any("/../" in c.url or c.url.endswith("/..") for c in cases)
    assert any(" " in c.url for c in cases)
    assert any("ሴ" in c.url or "😀" in c.url for c in cases)
    assert any(len({n.lower() for n, _ in c.headers}) < len(c.headers) for c in cases)
    assert any(any(n.lower() == "user-agent" for n, _ in c.headers) for c in cases)
    assert any(c.oracle_params and any(v == "" for _, v in c.oracle_params) for c in cases)
    assert any(c.oracle_params and len({k for k, _ in c.oracle_params}) < len(c.oracle_params) for c in cases)
    assert {type(c.body) for c in cases} == {type(None), bytes, str}
