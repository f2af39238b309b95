"""``tokenwire.aws.sign_request``: AWS's published SigV4 test suite, and the rules one by one.

The suite lives in ``../shared/fixtures/aws-sigv4-testsuite`` (read-only, never copied
here); its tests skip with a reason when that folder is absent. The randomized
comparison with botocore is in ``tests/property/test_sigv4_botocore.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import httpx
import pytest
from tests.conftest import SHARED

from tokenwire.aws import UNSIGNED_PAYLOAD, sign_request, sign_request_details
from tokenwire.aws.sigv4 import (
    EMPTY_SHA256,
    canonical_query_string,
    canonical_request,
    canonical_uri,
    credential_scope,
    format_amz_date,
    payload_hash,
    signing_key,
    string_to_sign,
)

SUITE = SHARED / "fixtures" / "aws-sigv4-testsuite"

# The suite's documented inputs (its SOURCES.md).
SUITE_ACCESS_KEY = "AKIDEXAMPLE"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_REGION = "us-east-1"
SUITE_SERVICE = "service"
SUITE_TIME = dt.datetime(2015, 8, 30, 12, 36, 0, tzinfo=dt.timezone.utc)

# Cases whose expectations we do not produce, each with the reason.
SUITE_UNSUPPORTED = {
    "post-sts-token/post-sts-header-after": (
        "the session token is added after signing and left unsigned; like botocore and current AWS "
        "SDKs, sign_request always signs X-Amz-Security-Token"
    ),
}


class RawRequest(NamedTuple):
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


def parse_raw_request(text: str) -> RawRequest:
    """Parse a suite ``.req``/``.sreq`` file: request line, headers (a line starting with
    whitespace continues the previous header's value), blank line, body."""
    text = text.replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    request_line, *header_lines = head.split("\n")
    method, _, rest = request_line.partition(" ")
    # The target may contain spaces (get-space): the version is after the last one.
    target, _, _version = rest.rpartition(" ")
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if not line:
            continue
        if line[0] in " \t":
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        headers.append((name, value))
    return RawRequest(method, target, headers, body.encode("utf-8"))


def suite_cases() -> list[Path]:
    if not SUITE.is_dir():
        return []
    return sorted(SUITE.rglob("*.req"))


def case_id(req: Path) -> str:
    return req.parent.relative_to(SUITE).as_posix()


def test_suite_is_present_or_skip_reason() -> None:
    if not SUITE.is_dir():
        pytest.skip(f"AWS SigV4 test suite not found at {SUITE} (../shared is absent)")
    # Guards against the parametrization silently finding nothing.
    assert len(suite_cases()) >= 30


@pytest.mark.parametrize("req_path", suite_cases(), ids=case_id)
def test_aws_sigv4_suite(req_path: Path) -> None:
    name = case_id(req_path)
    if name in SUITE_UNSUPPORTED:
        pytest.skip(SUITE_UNSUPPORTED[name])
    req = parse_raw_request(req_path.read_text(encoding="utf-8"))
    signed = parse_raw_request(req_path.with_suffix(".sreq").read_text(encoding="utf-8"))
    expected_creq = req_path.with_suffix(".creq").read_text(encoding="utf-8")
    expected_sts = req_path.with_suffix(".sts").read_text(encoding="utf-8")
    expected_authz = req_path.with_suffix(".authz").read_text(encoding="utf-8")

    # get-vanilla-with-session-token has the token only in the signed request.
    token = next((v for n, v in signed.headers if n.lower() == "x-amz-security-token"), None)
    host = next(v for n, v in req.headers if n.lower() == "host")
    url = f"https://{host}{req.target}"

    details = sign_request_details(
        req.method,
        url,
        req.headers,
        req.body,
        region=SUITE_REGION,
        service=SUITE_SERVICE,
        access_key=SUITE_ACCESS_KEY,
        secret_key=SUITE_SECRET,
        session_token=token,
        timestamp=SUITE_TIME,
    )
    assert details.canonical_request == expected_creq
    assert details.string_to_sign == expected_sts
    assert details.headers["Authorization"] == expected_authz
    assert details.headers["X-Amz-Date"] == "20150830T123600Z"
    assert details.headers.get("X-Amz-Security-Token") == token

    # The building blocks on their own give the same answers.
    has_token = any(n.lower() == "x-amz-security-token" for n, _ in req.headers)
    with_token = req.headers if token is None or has_token else [*req.headers, ("X-Amz-Security-Token", token)]
    assert canonical_request(req.method, url, with_token, req.body) == expected_creq
    scope = credential_scope("20150830", SUITE_REGION, SUITE_SERVICE)
    assert string_to_sign("20150830T123600Z", scope, expected_creq) == expected_sts
    # (.sreq's Authorization is not compared: in get-vanilla-with-session-token it
    # disagrees with the case's own .authz, which botocore's runner checks too.)


# --- the rules, one by one -------------------------------------------------------------

KW = {
    "region": "us-west-2",
    "service": "bedrock",
    "access_key": "AKIDEXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "timestamp": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
}


def details(
    method: str = "POST",
    url: str = "https://bedrock-runtime.us-west-2.amazonaws.com/model/m/converse",
    headers: Optional[list[tuple[str, str]]] = None,
    body: Optional[bytes] = b"{}",
    **kw: object,
) -> tuple[str, dict[str, str]]:
    args: dict[str, object] = {**KW, **kw}
    d = sign_request_details(method, url, headers, body, **args)  # type: ignore[arg-type]
    return d.canonical_request, d.headers


def creq_lines(creq: str) -> list[str]:
    return creq.split("\n")


def test_returned_headers_plain() -> None:
    headers = sign_request("GET", "https://example.amazonaws.com/", {}, None, **KW)  # type: ignore[arg-type]
    assert set(headers) == {"Authorization", "X-Amz-Date"}
    assert headers["X-Amz-Date"] == "20240506T070809Z"
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/us-west-2/bedrock/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature="
    )
    signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    assert len(signature) == 64
    assert int(signature, 16) >= 0


def test_session_token_is_returned_and_signed() -> None:
    creq, headers = details(session_token="TOKEN/+=")
    assert headers["X-Amz-Security-Token"] == "TOKEN/+="
    assert "x-amz-security-token:TOKEN/+=" in creq_lines(creq)
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in headers["Authorization"]


def test_unsigned_payload_adds_content_sha256_header() -> None:
    creq, headers = details(unsigned_payload=True, body=b"streamed body")
    assert headers["X-Amz-Content-SHA256"] == UNSIGNED_PAYLOAD
    lines = creq_lines(creq)
    assert lines[-1] == UNSIGNED_PAYLOAD
    assert "x-amz-content-sha256:UNSIGNED-PAYLOAD" in lines
    # A different body does not change an unsigned-payload signature.
    assert details(unsigned_payload=True, body=b"other")[1] == headers


def test_signed_payload_hashes_body_and_adds_no_content_header() -> None:
    creq, headers = details(body=b'{"a":1}')
    assert "X-Amz-Content-SHA256" not in headers
    assert creq_lines(creq)[-1] == hashlib.sha256(b'{"a":1}').hexdigest()
    assert details(body=b'{"a":2}')[1]["Authorization"] != headers["Authorization"]


def test_caller_content_sha256_header_is_the_payload_hash() -> None:
    precomputed = "ab" * 32
    creq, _ = details(headers=[("X-Amz-Content-SHA256", precomputed)], body=b"ignored")
    assert creq_lines(creq)[-1] == precomputed
    assert f"x-amz-content-sha256:{precomputed}" in creq_lines(creq)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, EMPTY_SHA256),
        (b"", EMPTY_SHA256),
        ("", EMPTY_SHA256),
        ("héllo", hashlib.sha256("héllo".encode()).hexdigest()),
        (b"h\xc3\xa9llo", hashlib.sha256("héllo".encode()).hexdigest()),
        (bytearray(b"abc"), hashlib.sha256(b"abc").hexdigest()),
        (memoryview(b"abc"), hashlib.sha256(b"abc").hexdigest()),
    ],
)
def test_payload_hash(body: object, expected: str) -> None:
    assert payload_hash(body) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/a//b///c", "/a/b/c"),
        ("/a/b/", "/a/b/"),
        ("/a/./b/../c", "/a/c"),
        ("/../../a", "/a"),
        ("/a/..", "/"),
        ("/a b", "/a%20b"),
        ("/ሴ", "/%E1%88%B4"),
        ("/~user/-._", "/~user/-._"),
        ("/a:b@c!$&'()*+,;=", "/a%3Ab%40c%21%24%26%27%28%29%2A%2B%2C%3B%3D"),
        # Non-S3 double encoding: an encoded path is encoded again.
        ("/model/arn%3Aaws%3Abedrock/converse", "/model/arn%253Aaws%253Abedrock/converse"),
        ("/100%", "/100%25"),
    ],
)
def test_canonical_uri(path: str, expected: str) -> None:
    assert canonical_uri(path) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1&a=10", "a=1&a=10&a=2"),
        ("a&b=", "a=&b="),
        ("a=1&&b=2&", "a=1&b=2"),
        ("=v", "=v"),
        ("k=a=b", "k=a%3Db"),
        ("k=%e1%88%b4", "k=%E1%88%B4"),
        ("k=ሴ", "k=%E1%88%B4"),
        ("k=%E1%88%B4", "k=%E1%88%B4"),
        ("k=a b", "k=a%20b"),
        ("k=a%20b", "k=a%20b"),
        ("k=a+b", "k=a%2Bb"),
        ("k=%2F/", "k=%2F%2F"),
        ("k=-_.~", "k=-_.~"),
        ("k=%7E", "k=~"),
        ("k=%ff%zz", "k=%FF%25zz"),
        # Sorted on the encoded form: '%' (0x25) sorts before letters.
        ("Param-3=x&Param=y&%E1%88%B4=z", "%E1%88%B4=z&Param=y&Param-3=x"),
        ("b=1&B=1&a=1", "B=1&a=1&b=1"),
    ],
)
def test_canonical_query_string(query: str, expected: str) -> None:
    assert canonical_query_string(query) == expected


def test_query_spellings_sign_the_same() -> None:
    base = "https://example.amazonaws.com/p?"
    spellings = ["k=%E1%88%B4&a=", "a&k=ሴ", "k=%e1%88%b4&a="]
    auths = {details("GET", base + q, body=None)[1]["Authorization"] for q in spellings}
    assert len(auths) == 1


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Example.AmazonAWS.com/", "example.amazonaws.com"),
        ("https://example.com:443/", "example.com"),
        ("http://example.com:80/", "example.com"),
        ("https://example.com:80/", "example.com:80"),
        ("http://localhost:8080/x", "localhost:8080"),
        ("https://user:pw@example.com/", "example.com"),
        ("http://[::1]:9000/", "[::1]:9000"),
        ("http://[::1]/", "[::1]"),
    ],
)
def test_host_is_derived_from_url(url: str, host: str) -> None:
    creq, _ = details("GET", url, body=None)
    assert f"host:{host}" in creq_lines(creq)


def test_host_header_overrides_url() -> None:
    creq, _ = details("GET", "http://127.0.0.1:9999/", headers=[("Host", " bedrock.example ")], body=None)
    assert "host:bedrock.example" in creq_lines(creq)
    assert sum(line.startswith("host:") for line in creq_lines(creq)) == 1


def test_url_without_host_needs_host_header() -> None:
    with pytest.raises(ValueError, match="no host"):
        details("GET", "/relative", body=None)
    creq, _ = details("GET", "/relative", headers=[("host", "h.example")], body=None)
    assert creq_lines(creq)[1] == "/relative"


def test_header_canonicalization() -> None:
    creq, headers = details(
        headers=[
            ("Content-Type", "application/json"),
            ("X-Custom", "  a   b \t c  "),
            ("x-custom", "second"),
            ("X-Empty", ""),
            ("User-Agent", "tokenwire/1"),
            ("Expect", "100-continue"),
            ("X-Amzn-Trace-Id", "Root=1"),
            ("Connection", "keep-alive"),
        ]
    )
    lines = creq_lines(creq)
    assert lines[3:8] == [
        "content-type:application/json",
        "host:bedrock-runtime.us-west-2.amazonaws.com",
        "x-amz-date:20240506T070809Z",
        "x-custom:a b c,second",
        "x-empty:",
    ]
    assert lines[9] == "content-type;host;x-amz-date;x-custom;x-empty"
    assert "SignedHeaders=content-type;host;x-amz-date;x-custom;x-empty," in headers["Authorization"]


def test_stale_auth_headers_are_replaced_not_signed() -> None:
    stale = [
        ("Authorization", "AWS4-HMAC-SHA256 old"),
        ("X-Amz-Date", "19990101T000000Z"),
        ("X-Amz-Security-Token", "old-token"),
    ]
    creq, headers = details(headers=stale, session_token="new-token")
    assert creq == details(session_token="new-token")[0]
    assert "old" not in creq
    assert headers["X-Amz-Security-Token"] == "new-token"


def test_token_header_without_session_token_is_signed_as_given() -> None:
    creq, headers = details(headers=[("X-Amz-Security-Token", "given")])
    assert "x-amz-security-token:given" in creq_lines(creq)
    assert "X-Amz-Security-Token" not in headers


def test_date_header_is_signed_as_given() -> None:
    creq, headers = details(headers=[("Date", "Mon, 06 May 2024 07:08:09 GMT")])
    assert "date:Mon, 06 May 2024 07:08:09 GMT" in creq_lines(creq)
    assert headers["X-Amz-Date"] == "20240506T070809Z"


def test_header_containers_agree() -> None:
    pairs = [("Content-Type", "application/json"), ("X-Multi", "1"), ("X-Multi", "2")]
    from_pairs = details(headers=pairs)
    from_httpx = sign_request_details(
        "POST",
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/m/converse",
        httpx.Headers(pairs),
        b"{}",
        **KW,  # type: ignore[arg-type]
    )
    assert from_httpx.canonical_request == from_pairs[0]
    assert "x-multi:1,2" in creq_lines(from_pairs[0])
    from_dict = sign_request_details(
        "POST",
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/m/converse",
        {"content-type": "application/json"},
        b"{}",
        **KW,  # type: ignore[arg-type]
    )
    assert from_dict.canonical_request == details(headers=[("Content-Type", "application/json")])[0]


def test_method_is_upper_cased() -> None:
    assert details("post")[1] == details("POST")[1]


def test_str_and_bytes_body_sign_the_same() -> None:
    assert details(body="é".encode())[1] == details(body="é")[1]  # type: ignore[arg-type]


def test_timestamps() -> None:
    aware = dt.datetime(2024, 5, 6, 9, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    naive = dt.datetime(2024, 5, 6, 7, 8, 9, 999_999)
    assert format_amz_date(aware) == "20240506T070809Z"
    assert format_amz_date(naive) == "20240506T070809Z"
    assert details(timestamp=aware)[1] == details(timestamp=naive)[1] == details()[1]
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    now = dt.datetime.strptime(format_amz_date(None), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    assert before <= now <= before + dt.timedelta(seconds=5)
    # A new day derives a new key and scope.
    _, next_day = details(timestamp=dt.datetime(2024, 5, 7, tzinfo=dt.timezone.utc))
    assert "/20240507/us-west-2/bedrock/aws4_request" in next_day["Authorization"]


def test_signing_key_matches_aws_documented_example() -> None:
    # The example in AWS's "derive a signing key" documentation.
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signing_key_is_cached_and_signature_uses_it() -> None:
    signing_key.cache_clear()
    d1 = sign_request_details("GET", "https://example.amazonaws.com/", None, None, **KW)  # type: ignore[arg-type]
    d2 = sign_request_details("GET", "https://example.amazonaws.com/x", None, None, **KW)  # type: ignore[arg-type]
    info = signing_key.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    key = signing_key(KW["secret_key"], "20240506", "us-west-2", "bedrock")  # type: ignore[arg-type]
    for d in (d1, d2):
        assert d.signature == hmac.new(key, d.string_to_sign.encode(), hashlib.sha256).hexdigest()
        assert d.headers["Authorization"].endswith(f"Signature={d.signature}")


@pytest.mark.parametrize("field", ["region", "service", "access_key", "secret_key"])
def test_empty_required_arguments_raise(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        details(**{field: ""})


def test_bedrock_model_arn_path_is_double_encoded() -> None:
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x/converse-stream"
    creq, _ = details("POST", url)
    assert creq_lines(creq)[1] == (
        "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123%253Ainference-profile%252Fus.x/converse-stream"
    )


def test_no_aws_sdk_at_run_time() -> None:
    # Fresh interpreter: other tests import botocore as their oracle.
    code = (
        "import sys, tokenwire.aws as aws\n"
        "aws.sign_request('GET', 'https://h.example/', None, None, region='r', service='s',"
        " access_key='a', secret_key='k')\n"
        "aws.resolve_region(env={})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'botocore', 'boto3', 'aiobotocore'})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
