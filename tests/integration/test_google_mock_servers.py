"""The Gemini and Vertex AI loopback servers on their own, with a plain httpx client:
their validation and error shapes, framing, paging and the OAuth token endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tokenwire.testing import Answer, GeminiMockServer, VertexMockServer, synth_gemini
from tokenwire.testing.gemini import retry_delay

KEY = "AIza-mock-server-test-key"
CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]


@pytest.fixture
def gemini() -> Iterator[GeminiMockServer]:
    with GeminiMockServer(api_key=KEY) as server:
        yield server


def post(server: Any, path: str, body: Any, *, key: str = KEY, **params: str) -> httpx.Response:
    headers = {"x-goog-api-key": key} if key else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server.base_url}{path}", content=content, headers=headers, params=params, timeout=5)


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.text.startswith('{\n  "error": {\n')  # Google's two-space indent
    return response.json()["error"]  # type: ignore[no-any-return]


def test_key_checks(gemini: GeminiMockServer) -> None:
    missing = error_of(post(gemini, "/v1beta/models/m:generateContent", {"contents": CONTENTS}, key=""))
    assert (missing["code"], missing["status"]) == (403, "PERMISSION_DENIED")
    assert "details" not in missing
    wrong = error_of(post(gemini, "/v1beta/models/m:generateContent", {"contents": CONTENTS}, key="nope"))
    assert (wrong["code"], wrong["status"], wrong["message"]) == (
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
    )
    assert [d["@type"] for d in wrong["details"]] == [
        "type.googleapis.com/google.rpc.ErrorInfo",
        "type.googleapis.com/google.rpc.LocalizedMessage",
    ]
    # The key may also come as ?key= (the older REST convention).
    by_query = httpx.post(
        f"{gemini.base_url}/v1beta/models/m:generateContent", params={"key": KEY}, json={"contents": CONTENTS}
    )
    assert by_query.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "Invalid JSON payload received. Unexpected token."),
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
        (
            {"contents": [{"role": "user", "parts": []}]},
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
        ),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "Please use a valid role: user, model."),
        (
            {"contents": CONTENTS, "temperature": 1},
            'Invalid JSON payload received. Unknown name "temperature": Cannot find field.',
        ),
        (
            {"contents": CONTENTS, "generationConfig": {"max_tokens": 5}},
            "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': Cannot find field.",
        ),
    ],
)
def test_body_validation(gemini: GeminiMockServer, body: Any, message: str) -> None:
    error = error_of(post(gemini, "/v1beta/models/gemini-2.5-flash:generateContent", body))
    assert (error["code"], error["status"], error["message"]) == (400, "INVALID_ARGUMENT", message)


def test_snake_case_fields_are_accepted(gemini: GeminiMockServer) -> None:
    body = {"contents": CONTENTS, "system_instruction": {"parts": [{"text": "s"}]}, "generation_config": {"top_p": 1}}
    assert post(gemini, "/v1beta/models/gemini-2.5-flash:generateContent", body).status_code == 200


def test_unknown_paths_are_html_404s(gemini: GeminiMockServer) -> None:
    for path in ("/v1beta/files", "/v2/models/x:generateContent", "/v1beta/models/x:embedContentz"):
        response = post(gemini, path, {"contents": CONTENTS})
        assert response.status_code == 404
        assert response.headers["content-type"] == "text/html; charset=UTF-8"
        assert "That\u2019s an error." in response.text


def test_stream_without_alt_sse_is_a_json_array(gemini: GeminiMockServer) -> None:
    gemini.scripts.push(Answer("a b", usage=(1, 2)))
    response = post(gemini, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", {"contents": CONTENTS})
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    payloads = response.json()
    assert [p["candidates"][0]["content"]["parts"][0]["text"] for p in payloads] == ["a", " b"]
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP"


def test_synthesized_stream_and_body_agree() -> None:
    answer = Answer("Hello world", reasoning="hm", tool_calls=[("f", '{"a": 1}')], usage=(5, 6, 2, 0, 3))
    payloads = synth_gemini.chunks(answer, model="gemini-x")
    assert synth_gemini.stream(answer, model="gemini-x") == b"".join(synth_gemini.frame(payloads))
    parts = [part for p in payloads for part in p["candidates"][0]["content"]["parts"]]
    assert parts == [
        {"text": "hm", "thought": True},
        {"text": "Hello"},
        {"text": " world"},
        {"functionCall": {"name": "f", "args": {"a": 1}}},
    ]
    final = payloads[-1]["usageMetadata"]
    assert final == {
        "promptTokenCount": 5,
        "candidatesTokenCount": 6,
        "totalTokenCount": 14,
        "cachedContentTokenCount": 2,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
        "thoughtsTokenCount": 3,
    }
    body = json.loads(synth_gemini.body(answer, model="gemini-x"))
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "hm", "thought": True},
        {"text": "Hello world"},
        {"functionCall": {"name": "f", "args": {"a": 1}}},
    ]
    assert body["usageMetadata"] == final


def test_model_paging(gemini: GeminiMockServer) -> None:
    seen: list[str] = []
    token = None
    while True:
        params = {"pageSize": "4", **({"pageToken": token} if token else {})}
        page = httpx.get(f"{gemini.base_url}/v1beta/models", params=params, headers={"x-goog-api-key": KEY}).json()
        seen += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == [
        f"models/{name}"
        for name in (
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-2.0-flash-001",
            "gemini-2.0-flash-lite-001",
            "gemini-embedding-001",
        )
    ]
    bad = httpx.get(f"{gemini.base_url}/v1beta/models", params={"pageToken": "%%%"}, headers={"x-goog-api-key": KEY})
    assert error_of(bad)["message"] == "Invalid page token."


@pytest.mark.parametrize(("seconds", "text"), [(20, "20s"), (34.4, "34.4s"), (0.5, "0.5s"), (0, "0s")])
def test_retry_delay_format(seconds: float, text: str) -> None:
    assert retry_delay(seconds) == text


# -- the Vertex token endpoint ---------------------------------------------------------------


def test_token_endpoint_refusals() -> None:
    with VertexMockServer() as server:

        def token(form: dict[str, str]) -> httpx.Response:
            return httpx.post(server.token_url, data=form, timeout=5)

        wrong_grant = token({"grant_type": "password", "assertion": "x"})
        assert (wrong_grant.status_code, wrong_grant.json()) == (
            400,
            {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: password"},
        )
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
        assert token({"grant_type": grant}).json()["error"] == "invalid_request"
        assert token({"grant_type": grant, "assertion": "a.b"}).json()["error"] == "invalid_grant"
        not_json = token({"grant_type": grant, "assertion": "e30.bm9wZQ.c2ln"})
        assert not_json.json()["error_description"] == "Invalid JWT: segments are not base64url JSON"
        assert server.issued_tokens == []
        assert len(server.token_requests) == 4 and server.prediction_requests == []


def test_prediction_requires_a_bearer() -> None:
    with VertexMockServer(project="p") as server:
        base = f"{server.base_url}/v1/projects/p/locations/global/publishers"
        url = f"{base}/google/models/gemini-2.5-flash:generateContent"
        missing = httpx.post(url, json={"contents": CONTENTS})
        error = error_of(missing)
        assert (error["code"], error["status"], error["details"][0]["reason"]) == (
            401,
            "UNAUTHENTICATED",
            "CREDENTIALS_MISSING",
        )
        assert missing.headers["www-authenticate"] == 'Bearer realm="https://accounts.google.com/"'
        server.accept_token("ya29.ok")
        assert (
            httpx.post(url, json={"contents": CONTENTS}, headers={"authorization": "Bearer ya29.ok"}).status_code == 200
        )
        claude = f"{base}/anthropic/models/claude-x:rawPredict"
        no_version = httpx.post(
            claude,
            json={"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer ya29.ok"},
        )
        assert no_version.json() == {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "anthropic_version: Field required"},
        }
