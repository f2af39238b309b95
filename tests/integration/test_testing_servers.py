"""tokenwire.testing: the loopback OpenAI and Anthropic servers, over real sockets with
plain httpx (sync and async). Every test is bounded by short client timeouts."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import require_recorded

from tokenwire.testing import (
    Answer,
    AnthropicMockServer,
    OpenAIMockServer,
    RateLimits,
    RecordedRequest,
    Recording,
    estimate_request_tokens,
    faults,
    mask_key,
    synth,
)

KEY = "sk-test-0123456789abcdefghijkl"
ANT_KEY = "sk-ant-test-key"
TIMEOUT = httpx.Timeout(5.0)
OPENAI_AUTH = {"Authorization": f"Bearer {KEY}"}
ANT_HEADERS = {"x-api-key": ANT_KEY, "anthropic-version": "2023-06-01"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
def oai() -> Iterator[OpenAIMockServer]:
    with OpenAIMockServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def ant() -> Iterator[AnthropicMockServer]:
    with AnthropicMockServer(api_key=ANT_KEY) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as c:
        yield c


def sse_payloads(raw: bytes) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for block in raw.decode().split("\n\n"):
        if block:
            fields = dict(line.split(": ", 1) for line in block.split("\n"))
            out.append((fields.get("event", "message"), fields.get("data", "")))
    return out


def chat(server: OpenAIMockServer, client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post(f"{server.base_url}/chat/completions", headers=OPENAI_AUTH, json={**CHAT, **body})


def messages(server: AnthropicMockServer, client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post(f"{server.base_url}/v1/messages", headers=ANT_HEADERS, json={**MESSAGES, **body})


def openai_error(response: httpx.Response) -> dict[str, Any]:
    document = response.json()
    assert set(document) == {"error"}
    assert set(document["error"]) == {"message", "type", "param", "code"}
    return document["error"]


def anthropic_error(response: httpx.Response) -> dict[str, Any]:
    document = response.json()
    assert document["type"] == "error"
    assert document["request_id"] == response.headers["request-id"]
    return document["error"]


# ---------------------------------------------------------------------------
# OpenAI routes
# ---------------------------------------------------------------------------


def test_openai_chat_non_stream(oai: OpenAIMockServer, client: httpx.Client) -> None:
    assert oai.base_url == f"http://127.0.0.1:{oai.port}/v1"
    response = chat(oai, client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])
    document = response.json()
    assert document["object"] == "chat.completion"
    assert document["choices"][0]["message"]["content"] == "You said: hello there"
    assert document["usage"]["prompt_tokens"] == estimate_request_tokens(CHAT)


def test_openai_chat_stream_usage_only_when_asked(oai: OpenAIMockServer, client: httpx.Client) -> None:
    plain = chat(oai, client, stream=True)
    assert plain.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert plain.headers["transfer-encoding"] == "chunked"
    events = sse_payloads(plain.content)
    assert events[-1] == ("message", "[DONE]")
    assert all('"usage"' not in data for _, data in events)
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content", "") for _, d in events[:-1])
    assert text == "You said: hello there"

    with_usage = sse_payloads(chat(oai, client, stream=True, stream_options={"include_usage": True}).content)
    usage_chunk = json.loads(with_usage[-2][1])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == estimate_request_tokens(CHAT)


def test_openai_responses_stream_and_json(oai: OpenAIMockServer, client: httpx.Client) -> None:
    oai.scripts.push(Answer("Done.", reasoning="Thinking it over.", tool_calls=[("lookup", '{"q":"x"}')]))
    body = {"model": "gpt-4o-mini", "input": "hi", "stream": True}
    response = client.post(f"{oai.base_url}/responses", headers=OPENAI_AUTH, json=body)
    assert response.status_code == 200
    events = sse_payloads(response.content)
    kinds = [kind for kind, _ in events]
    for expected in (
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_text.delta",
        "response.content_part.added",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.completed",
    ):
        assert expected in kinds
    assert all(json.loads(data)["type"] == kind for kind, data in events)
    completed = json.loads(events[-1][1])["response"]
    assert completed["usage"]["input_tokens"] == estimate_request_tokens(body)

    plain = client.post(f"{oai.base_url}/responses", headers=OPENAI_AUTH, json={"model": "gpt-4o-mini", "input": "yo"})
    document = plain.json()
    assert document["object"] == "response" and document["status"] == "completed"
    assert document["output"][0]["content"][0]["text"] == "You said: yo"


def test_openai_legacy_completions(oai: OpenAIMockServer, client: httpx.Client) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this"}
    document = client.post(f"{oai.base_url}/completions", headers=OPENAI_AUTH, json=body).json()
    assert document["object"] == "text_completion"
    assert document["choices"][0]["text"] == "You said: Say this"
    streamed = client.post(
        f"{oai.base_url}/completions",
        headers=OPENAI_AUTH,
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
    )
    events = sse_payloads(streamed.content)
    assert events[-1][1] == "[DONE]"
    assert "".join(json.loads(d)["choices"][0]["text"] for _, d in events[:-2]) == "You said: Say this"
    assert json.loads(events[-2][1])["usage"]["prompt_tokens"] == estimate_request_tokens(body)


def test_openai_models(client: httpx.Client) -> None:
    with OpenAIMockServer(models=["gpt-a", "gpt-b"]) as server:
        listing = client.get(f"{server.base_url}/models", headers=OPENAI_AUTH).json()
        assert listing["object"] == "list"
        assert [(m["id"], m["object"]) for m in listing["data"]] == [("gpt-a", "model"), ("gpt-b", "model")]
        assert client.get(f"{server.base_url}/models/gpt-b", headers=OPENAI_AUTH).json()["id"] == "gpt-b"
        missing = client.get(f"{server.base_url}/models/gpt-z", headers=OPENAI_AUTH)
        assert missing.status_code == 404 and openai_error(missing)["code"] == "model_not_found"


def test_openai_auth_failures(oai: OpenAIMockServer, client: httpx.Client) -> None:
    missing = client.post(f"{oai.base_url}/chat/completions", json=CHAT)
    assert missing.status_code == 401
    assert openai_error(missing) == {
        "message": "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) "
        "if you're accessing the API from your browser and are prompted for a username. You can obtain an API key "
        "from https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert missing.text.startswith('{\n    "error": {\n        "message"') and missing.text.endswith("}\n")

    wrong_key = "sk-proj-WRONGWRONGWRONGWRONGwxyz"
    wrong = client.post(f"{oai.base_url}/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {wrong_key}"})
    assert wrong.status_code == 401
    assert openai_error(wrong) == {
        "message": "Incorrect API key provided: sk-proj-********************wxyz. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    assert wrong_key not in wrong.text
    basic = client.post(f"{oai.base_url}/chat/completions", json=CHAT, headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401 and openai_error(basic)["message"].startswith("You didn't provide an API key")


def test_mask_key_never_shows_a_whole_key() -> None:
    assert mask_key("sk-proj-abcdefghijklmnopqrstuvwxyz") == "sk-proj-**********************wxyz"
    for key in ("sk-test", "sk-te", "short-key-123", "x"):
        masked = mask_key(key)
        assert key not in masked and "*" in masked


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {"messages": CHAT["messages"]},
            400,
            {
                "message": "you must provide a model parameter",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        ),
        (
            {"model": "gpt-4o-mini"},
            400,
            {
                "message": "Missing required parameter: 'messages'.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "missing_required_parameter",
            },
        ),
        (
            {"model": "gpt-4o-mini", "messages": []},
            400,
            {
                "message": "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                "empty array instead.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "empty_array",
            },
        ),
        (
            {"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "hi"}]},
            400,
            {
                "message": "Invalid value: 'wizard'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                "type": "invalid_request_error",
                "param": "messages[0].role",
                "code": "invalid_value",
            },
        ),
        (
            {"model": "gpt-4o-mini", "messages": "hi"},
            400,
            {
                "message": "Invalid type for 'messages': expected an array of objects, but got a string instead.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "invalid_type",
            },
        ),
        (
            {**CHAT, "max_tokens": 5, "max_completion_tokens": 5},
            400,
            {
                "message": "max_tokens and max_completion_tokens cannot both be set. Use max_completion_tokens.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "invalid_value",
            },
        ),
    ],
)
def test_openai_schema_errors(
    oai: OpenAIMockServer, client: httpx.Client, body: dict[str, Any], status: int, error: dict[str, Any]
) -> None:
    response = client.post(f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, json=body)
    assert response.status_code == status
    assert openai_error(response) == error
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])


def test_openai_non_json_body(oai: OpenAIMockServer, client: httpx.Client) -> None:
    response = client.post(f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, content=b"{not json")
    assert response.status_code == 400
    assert openai_error(response)["message"].startswith("We could not parse the JSON body of your request.")


def test_openai_unknown_model_with_allowlist(client: httpx.Client) -> None:
    with OpenAIMockServer(models=["gpt-4o-mini"]) as server:
        response = chat(server, client, model="gpt-4.1-nano-wrong")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert openai_error(response) == {
            "message": "The model `gpt-4.1-nano-wrong` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
        assert chat(server, client).status_code == 200


def test_openai_unknown_url_and_method(oai: OpenAIMockServer, client: httpx.Client) -> None:
    response = client.post(f"{oai.base_url}/chat/completion", headers=OPENAI_AUTH, json=CHAT)
    assert response.status_code == 404
    assert openai_error(response)["message"] == "Invalid URL (POST /v1/chat/completion)"
    wrong = client.get(f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH)
    assert wrong.status_code == 405


def test_azure_route(oai: OpenAIMockServer, client: httpx.Client) -> None:
    url = f"{oai.azure_endpoint}/openai/deployments/my-gpt/chat/completions"
    ok = client.post(url, params={"api-version": "2024-05-01-preview"}, headers={"api-key": KEY}, json=CHAT)
    assert ok.status_code == 200
    assert ok.json()["model"] == "gpt-4o-mini"
    assert "prompt_filter_results" in ok.json()
    assert ok.headers["x-ms-deployment-name"] == "my-gpt"
    streamed = client.post(
        url, params={"api-version": "2024-05-01-preview"}, headers={"api-key": KEY}, json={**CHAT, "stream": True}
    )
    first = json.loads(sse_payloads(streamed.content)[0][1])
    assert first["choices"] == [] and "prompt_filter_results" in first
    assert oai.last_request.query == {"api-version": "2024-05-01-preview"}

    denied = client.post(url, params={"api-version": "2024-05-01-preview"}, headers={"api-key": "nope"}, json=CHAT)
    assert denied.status_code == 401
    assert denied.json() == {
        "error": {
            "code": "401",
            "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
            "valid key for an active subscription and use a correct regional API endpoint for your resource.",
        }
    }
    no_version = client.post(url, headers={"api-key": KEY}, json=CHAT)
    assert no_version.status_code == 404
    assert no_version.json() == {"error": {"code": "404", "message": "Resource not found"}}
    bearer_only = client.post(url, params={"api-version": "2024-05-01-preview"}, headers=OPENAI_AUTH, json=CHAT)
    assert bearer_only.status_code == 401


def test_multi_turn_echo_and_tool_results(oai: OpenAIMockServer, client: httpx.Client) -> None:
    turns = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "first"}]},
        {"role": "assistant", "content": "You said: first"},
        {"role": "user", "content": "second"},
    ]
    assert chat(oai, client, messages=turns).json()["choices"][0]["message"]["content"] == "You said: second"
    tool_turn = [*turns, {"role": "tool", "tool_call_id": "call_1", "content": "22C"}]
    assert chat(oai, client, messages=tool_turn).json()["choices"][0]["message"]["content"] == "The tool returned: 22C"


# ---------------------------------------------------------------------------
# Recording, scripts, keep-alive
# ---------------------------------------------------------------------------


def test_requests_are_recorded_exactly(oai: OpenAIMockServer, client: httpx.Client) -> None:
    raw = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
    client.post(
        f"{oai.base_url}/chat/completions?foo=1&bar=two&foo=3",
        headers={**OPENAI_AUTH, "X-Custom-Header": "Value", "content-type": "application/json"},
        content=raw,
    )
    recorded = oai.last_request
    assert isinstance(recorded, RecordedRequest)
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.query == {"foo": "3", "bar": "two"}
    assert recorded.query_items == (("foo", "1"), ("bar", "two"), ("foo", "3"))
    assert recorded.body == raw
    assert recorded.json()["messages"][0]["content"] == "hi"
    assert ("X-Custom-Header", "Value") in recorded.headers  # original case kept
    assert recorded.headers.get("x-custom-header") == "Value"
    assert recorded.header("AUTHORIZATION") == f"Bearer {KEY}"
    assert "content-length" in recorded.headers
    assert recorded.headers.get_all("x-custom-header") == ["Value"]
    assert len(oai.requests) == 1
    oai.reset()
    assert oai.requests == []
    with pytest.raises(LookupError):
        _ = oai.last_request


def test_max_recorded_keeps_the_latest(client: httpx.Client) -> None:
    with OpenAIMockServer(max_recorded=2) as server:
        for word in ("one", "two", "three"):
            chat(server, client, messages=[{"role": "user", "content": word}])
        assert [r.json()["messages"][0]["content"] for r in server.requests] == ["two", "three"]


def test_script_queue_default_and_callable(oai: OpenAIMockServer, client: httpx.Client) -> None:
    def content() -> str:
        return chat(oai, client).json()["choices"][0]["message"]["content"]

    oai.scripts.push(Answer("queued"), times=2)
    oai.scripts.push(Answer("then this"))
    assert len(oai.scripts) == 3
    assert [content(), content(), content()] == ["queued", "queued", "then this"]
    assert content() == "You said: hello there"
    oai.default_script = Answer("default")
    assert content() == "default"
    oai.default_script = lambda request: Answer(f"model={request.json()['model']}")
    assert content() == "model=gpt-4o-mini"
    oai.reset()
    oai.scripts.push(Answer("dropped"))
    oai.reset()
    assert len(oai.scripts) == 0
    with pytest.raises(TypeError):
        oai.scripts.push("not a script")


def test_failing_script_answers_500(oai: OpenAIMockServer, client: httpx.Client) -> None:
    def broken(request: RecordedRequest) -> Answer:
        raise RuntimeError("boom")

    oai.scripts.push(broken)
    response = chat(oai, client)
    assert response.status_code == 500 and "RuntimeError: boom" in response.text
    assert chat(oai, client).status_code == 200  # the server lives on


def test_recording_lines_are_framed_per_route(
    oai: OpenAIMockServer, ant: AnthropicMockServer, client: httpx.Client
) -> None:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "rec"}}]}
    oai.scripts.push(Recording.from_lines([json.dumps(chunk)], headers={"x-extra": "1"}))
    response = chat(oai, client, stream=True)
    assert response.content == f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
    assert response.headers["x-extra"] == "1"

    ant.scripts.push(Recording.from_lines(['{"type":"message_stop"}']))
    assert messages(ant, client, stream=True).content == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'

    error_body = b'{"error": {"message": "nope", "type": "x", "param": null, "code": null}}'
    oai.scripts.push(Recording.raw(error_body, status=418))
    teapot = chat(oai, client)
    assert teapot.status_code == 418 and teapot.content == error_body
    assert teapot.headers["content-type"] == "application/json"


def test_recording_replays_a_recorded_fixture(
    oai: OpenAIMockServer, ant: AnthropicMockServer, client: httpx.Client
) -> None:
    recorded = require_recorded() / "vercel-ai"
    oai.scripts.push(Recording.from_file(recorded / "openai" / "openai-text.chunks.txt"))
    lines = (recorded / "openai" / "openai-text.chunks.txt").read_text().splitlines()
    response = chat(oai, client, stream=True)
    assert response.content == b"".join(f"data: {line}\n\n".encode() for line in lines) + b"data: [DONE]\n\n"

    ant.scripts.push(Recording.from_file(recorded / "anthropic" / "anthropic-text.json"))
    body = messages(ant, client)
    assert body.content == (recorded / "anthropic" / "anthropic-text.json").read_bytes()


def test_keep_alive_reuses_one_connection(oai: OpenAIMockServer, client: httpx.Client) -> None:
    chat(oai, client)
    chat(oai, client, stream=True)
    first, second = oai.requests
    assert first.peer is not None and first.peer == second.peer
    with httpx.Client(timeout=TIMEOUT) as other:
        chat(oai, other)
    assert oai.requests[-1].peer != first.peer


def test_chunked_request_bodies_are_read(oai: OpenAIMockServer, client: httpx.Client) -> None:
    payload = json.dumps(CHAT).encode()
    response = client.post(
        f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, content=iter([payload[:10], payload[10:]])
    )
    assert response.status_code == 200
    assert oai.last_request.headers.get("transfer-encoding") == "chunked"
    assert oai.last_request.body == payload


def test_async_client_and_concurrent_streams(oai: OpenAIMockServer) -> None:
    # 200 streams in flight at once, on 200 connections. Four clients of 50 each:
    # httpcore's pool bookkeeping grows quadratically with one pool's size.
    oai.set_default_fault(faults.Stall(0.3, after_bytes=1))  # every stream is open at the same time

    async def main() -> list[str]:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        clients = [httpx.AsyncClient(timeout=httpx.Timeout(10.0), limits=limits) for _ in range(4)]

        async def one(i: int) -> str:
            body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": f"n{i}"}]}
            response = await clients[i % 4].post(f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, json=body)
            events = sse_payloads(response.content)
            return "".join(json.loads(d)["choices"][0]["delta"].get("content", "") for _, d in events[:-1])

        try:
            return await asyncio.gather(*(one(i) for i in range(200)))
        finally:
            for aclient in clients:
                await aclient.aclose()

    started = time.monotonic()
    texts = asyncio.run(asyncio.wait_for(main(), 20))
    assert texts == [f"You said: n{i}" for i in range(200)]
    assert len(oai.requests) == 200
    assert len({request.peer for request in oai.requests}) == 200
    # Served one after another the stalls alone would take 200 * 0.3 = 60 s.
    assert time.monotonic() - started < 10


@pytest.mark.load
def test_a_thousand_concurrent_streams() -> None:
    """1,000 streams open at once, over raw sockets so the server alone is measured."""
    connections = 1000
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * connections + 200  # both ends live in this process
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    body = json.dumps({**CHAT, "stream": True}).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer k\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        with OpenAIMockServer(max_recorded=10) as server:
            # Everyone gets the headers and first event, then waits: all 1,000 are open together.
            server.set_default_fault(faults.Stall(0.5, after_bytes=1))

            async def one() -> bytes:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(head + body)
                received = await reader.readuntil(b"\r\n0\r\n\r\n")  # the terminating chunk
                writer.close()
                return received

            async def main() -> list[bytes]:
                return await asyncio.gather(*(one() for _ in range(connections)))

            started = time.monotonic()
            replies = asyncio.run(asyncio.wait_for(main(), 30))
            elapsed = time.monotonic() - started
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(replies) == connections
    assert all(reply.startswith(b"HTTP/1.1 200 ") and b"data: [DONE]" in reply for reply in replies)
    assert elapsed < 15  # one after another, the stalls alone would take 500 s


def test_stop_with_open_connections_is_prompt() -> None:
    server = OpenAIMockServer().start()
    server.set_default_fault(faults.Stall(30.0, after_bytes=50))
    errors: list[BaseException] = []

    def stream_forever() -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10.0)) as c,
                c.stream(
                    "POST", f"{server.base_url}/chat/completions", headers=OPENAI_AUTH, json={**CHAT, "stream": True}
                ) as response,
            ):
                for _ in response.iter_raw():
                    pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=stream_forever) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(server.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(server.requests) == 3
    started = time.monotonic()
    server.stop(timeout=2.0)
    # Well under the 2 s join timeout: open streams do not hold stop() up.
    assert time.monotonic() - started < 1.9
    assert not server.running
    for thread in threads:
        thread.join(5)
    assert len(errors) == 3 and all(isinstance(e, httpx.TransportError) for e in errors)
    server.stop()  # idempotent


def test_lifecycle_errors(client: httpx.Client) -> None:
    server = AnthropicMockServer()
    with pytest.raises(RuntimeError):
        _ = server.port
    assert "stopped" in repr(server)
    with server:
        with pytest.raises(RuntimeError):
            server.start()
        assert server.url in repr(server)

        def stop_from_inside(request: RecordedRequest) -> Answer:
            server.stop()
            return Answer("unreachable")

        server.scripts.push(stop_from_inside)
        response = messages(server, client)
        assert response.status_code == 500 and "own thread" in response.text
        assert server.running
    assert not server.running
    with server:  # a stopped server starts again, on a fresh port
        assert messages(server, client).status_code == 200


def test_async_context_manager() -> None:
    async def main() -> int:
        async with AnthropicMockServer() as server, httpx.AsyncClient(timeout=TIMEOUT) as aclient:
            response = await aclient.post(
                f"{server.base_url}/v1/messages", headers={**ANT_HEADERS, "x-api-key": "any"}, json=MESSAGES
            )
            return response.status_code

    assert asyncio.run(main()) == 200


# ---------------------------------------------------------------------------
# Anthropic routes
# ---------------------------------------------------------------------------


def test_anthropic_messages(ant: AnthropicMockServer, client: httpx.Client) -> None:
    assert ant.base_url == f"http://127.0.0.1:{ant.port}"
    response = messages(ant, client)
    assert response.status_code == 200
    assert re.fullmatch(r"req_011C[1-9A-HJ-NP-Za-km-z]{20}", response.headers["request-id"])
    document = response.json()
    assert document["type"] == "message" and document["content"] == [{"type": "text", "text": "You said: hello there"}]
    assert document["usage"]["input_tokens"] == estimate_request_tokens(MESSAGES)

    ant.scripts.push(Answer("ok", reasoning="hmm", tool_calls=[("f", '{"a":1}')]))
    streamed = messages(ant, client, stream=True, max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 1024})
    kinds = [kind for kind, _ in sse_payloads(streamed.content)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "ping" in kinds


def test_anthropic_count_tokens_matches_auto_usage(ant: AnthropicMockServer, client: httpx.Client) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Count me, please."}]}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    }
    counted = client.post(f"{ant.base_url}/v1/messages/count_tokens", headers=ANT_HEADERS, json=body)
    assert counted.status_code == 200
    assert counted.json() == {"input_tokens": estimate_request_tokens(body)}
    usage = messages(ant, client, **body).json()["usage"]
    assert usage["input_tokens"] == counted.json()["input_tokens"]


def test_anthropic_models(client: httpx.Client) -> None:
    with AnthropicMockServer(models=["claude-a"]) as server:
        listing = client.get(f"{server.base_url}/v1/models", headers={**ANT_HEADERS, "x-api-key": "k"}).json()
        assert listing["data"][0]["id"] == "claude-a" and listing["data"][0]["type"] == "model"
        assert listing["has_more"] is False and listing["first_id"] == listing["last_id"] == "claude-a"
        unknown = messages(server, client, model="claude-z")
        assert unknown.status_code == 404
        assert anthropic_error(unknown) == {"type": "not_found_error", "message": "model: claude-z"}


def test_anthropic_auth_and_version(ant: AnthropicMockServer, client: httpx.Client) -> None:
    url = f"{ant.base_url}/v1/messages"
    missing = client.post(url, headers={"anthropic-version": "2023-06-01"}, json=MESSAGES)
    assert missing.status_code == 401
    assert anthropic_error(missing) == {"type": "authentication_error", "message": "x-api-key header is required"}
    wrong = client.post(url, headers={**ANT_HEADERS, "x-api-key": "sk-ant-nope"}, json=MESSAGES)
    assert wrong.status_code == 401
    assert anthropic_error(wrong) == {"type": "authentication_error", "message": "invalid x-api-key"}
    no_version = client.post(url, headers={"x-api-key": ANT_KEY}, json=MESSAGES)
    assert no_version.status_code == 400
    assert anthropic_error(no_version) == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    bearer = client.post(
        url, headers={"Authorization": f"Bearer {ANT_KEY}", "anthropic-version": "2023-06-01"}, json=MESSAGES
    )
    assert bearer.status_code == 200
    beta = client.post(url, headers={**ANT_HEADERS, "anthropic-beta": "made-up-beta-2099-01-01"}, json=MESSAGES)
    assert beta.status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": None}, "model: Field required"),
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"messages": None}, "messages: Field required"),
        ({"messages": []}, "messages: at least one message is required"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, 'messages: first message must use the "user" role'),
        ({"messages": [{"role": "system", "content": "hi"}]}, "messages.0.role: Input should be 'user' or 'assistant'"),
        ({"system": 42}, "system: Input should be a valid list"),
        ({"system": [{"type": "image"}]}, "system.0.type: Input should be 'text'"),
        (
            {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 2000}},
            "`max_tokens` must be greater than `thinking.budget_tokens`.",
        ),
        (
            {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 100}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
    ],
)
def test_anthropic_body_errors(
    ant: AnthropicMockServer, client: httpx.Client, change: dict[str, Any], message: str
) -> None:
    body = {k: v for k, v in {**MESSAGES, **change}.items() if v is not None}
    response = client.post(f"{ant.base_url}/v1/messages", headers=ANT_HEADERS, json=body)
    assert response.status_code == 400
    assert anthropic_error(response) == {"type": "invalid_request_error", "message": message}


def test_anthropic_non_json_body(ant: AnthropicMockServer, client: httpx.Client) -> None:
    response = client.post(f"{ant.base_url}/v1/messages", headers=ANT_HEADERS, content=b"nope")
    assert response.status_code == 400
    assert anthropic_error(response)["message"].startswith("The request body is not valid JSON: ")


def test_anthropic_tool_result_echo(ant: AnthropicMockServer, client: httpx.Client) -> None:
    turns = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
    ]
    assert messages(ant, client, messages=turns).json()["content"][0]["text"] == "The tool returned: sunny"


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------

STREAM = synth.stream(Answer("The quick brown fox jumps over the lazy dog."), "openai-chat")


def test_drip_delivers_identical_bytes_one_per_chunk(oai: OpenAIMockServer, client: httpx.Client) -> None:
    oai.scripts.push(Recording.raw(STREAM))
    oai.faults.push(faults.Drip(bytes_per_write=1))
    with client.stream("POST", f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, json=CHAT) as response:
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == STREAM
    assert all(len(chunk) == 1 for chunk in chunks)
    assert len(chunks) == len(STREAM)


def test_drip_with_delay_and_larger_writes(ant: AnthropicMockServer, client: httpx.Client) -> None:
    ant.faults.push(faults.Drip(bytes_per_write=64, delay=0.001))
    with client.stream(
        "POST", f"{ant.base_url}/v1/messages", headers=ANT_HEADERS, json={**MESSAGES, "stream": True}
    ) as r:
        chunks = list(r.iter_raw())
    assert all(len(chunk) <= 64 for chunk in chunks) and len(chunks) > 5
    assert b"".join(chunks).endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')


def test_disconnect_mid_event(oai: OpenAIMockServer, client: httpx.Client) -> None:
    cut = STREAM.index(b"quick") + 2  # inside an event
    oai.scripts.push(Recording.raw(STREAM))
    oai.faults.push(faults.Disconnect(after_bytes=cut))
    received = bytearray()
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, json=CHAT) as response,
    ):
        for chunk in response.iter_raw():
            received += chunk
    assert bytes(received) == STREAM[:cut]
    assert chat(oai, client).status_code == 200  # a fresh connection works


def test_disconnect_with_reset_and_non_stream(ant: AnthropicMockServer, client: httpx.Client) -> None:
    ant.faults.push(faults.Disconnect(after_bytes=10, reset=True))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        messages(ant, client, stream=True)
    ant.faults.push(faults.Disconnect(after_bytes=20))
    with pytest.raises(httpx.RemoteProtocolError):
        messages(ant, client)  # Content-Length body cut short
    ant.faults.push(faults.Disconnect(after_bytes=10**9))  # past the end: whole body, no end of message
    received = bytearray()
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream(
            "POST", f"{ant.base_url}/v1/messages", headers=ANT_HEADERS, json={**MESSAGES, "stream": True}
        ) as response,
    ):
        for chunk in response.iter_raw():
            received += chunk
    assert bytes(received).endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')


def test_stall_before_body_and_mid_stream(oai: OpenAIMockServer, client: httpx.Client) -> None:
    short = httpx.Timeout(5.0, read=0.2)
    oai.faults.push(faults.Stall(2.0))
    with (
        pytest.raises(httpx.ReadTimeout),
        client.stream(
            "POST", f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, json=CHAT, timeout=short
        ) as response,
    ):
        assert response.status_code == 200  # headers arrived; the body stalls
        response.read()

    oai.scripts.push(Recording.raw(STREAM))
    oai.faults.push(faults.Stall(2.0, after_bytes=100))
    received = bytearray()
    with (
        pytest.raises(httpx.ReadTimeout),
        client.stream(
            "POST", f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, json=CHAT, timeout=short
        ) as response,
    ):
        for chunk in response.iter_raw():
            received += chunk
    assert bytes(received) == STREAM[:100]

    oai.faults.push(faults.Stall(2.0, before_headers=True))
    with httpx.Client(timeout=short) as impatient, pytest.raises(httpx.ReadTimeout):
        chat(oai, impatient)


def test_short_stall_completes(oai: OpenAIMockServer, client: httpx.Client) -> None:
    oai.scripts.push(Recording.raw(STREAM))
    oai.faults.push([faults.Stall(0.05, after_bytes=30), faults.Stall(0.05, after_bytes=60)])
    started = time.monotonic()
    assert chat(oai, client).content == STREAM
    assert time.monotonic() - started >= 0.1


def test_openai_rate_limit_fault(oai: OpenAIMockServer, client: httpx.Client) -> None:
    oai.faults.push(faults.RateLimit(retry_after=20))
    response = chat(oai, client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "20"
    assert response.headers["x-ratelimit-limit-requests"] == "3"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-ratelimit-reset-requests"] == "20s"
    for name in ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"):
        assert name in response.headers
    assert openai_error(response) == {
        "message": f"Rate limit reached for gpt-4o-mini in organization {oai.organization} on requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    oai.faults.push(faults.RateLimit(retry_after=360, kind="tokens", limit=30000, used=29000, requested=2000))
    tokens = chat(oai, client)
    assert tokens.headers["x-ratelimit-reset-tokens"] == "6m0s"
    assert tokens.headers["x-ratelimit-remaining-tokens"] == "1000"
    assert openai_error(tokens)["type"] == "tokens"
    assert "on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000" in openai_error(tokens)["message"]
    assert chat(oai, client).status_code == 200  # consumed


def test_anthropic_rate_limit_fault(ant: AnthropicMockServer, client: httpx.Client) -> None:
    ant.faults.push(faults.RateLimit(retry_after=7, kind="input_tokens", limit=50000))
    response = messages(ant, client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    rfc3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert response.headers[f"anthropic-ratelimit-{kind}-limit"].isdigit()
        assert response.headers[f"anthropic-ratelimit-{kind}-remaining"].isdigit()
        assert re.fullmatch(rfc3339, response.headers[f"anthropic-ratelimit-{kind}-reset"])
    assert response.headers["anthropic-ratelimit-input-tokens-remaining"] == "0"
    error = anthropic_error(response)
    assert error["type"] == "rate_limit_error"
    assert error["message"].startswith(
        f"This request would exceed the rate limit for your organization ({ant.organization_id}) of 50,000 input "
        "tokens per minute."
    )


def test_rate_limit_headers_on_success_and_enforcement(client: httpx.Client) -> None:
    limits = RateLimits(requests=3, tokens=100_000, enforce=True)
    with OpenAIMockServer(rate_limits=limits) as server:
        first = chat(server, client)
        assert first.headers["x-ratelimit-limit-requests"] == "3"
        assert first.headers["x-ratelimit-remaining-requests"] == "2"
        assert re.fullmatch(r"\d+(\.\d+)?(ms|s)", first.headers["x-ratelimit-reset-requests"])
        assert chat(server, client).headers["x-ratelimit-remaining-requests"] == "1"
        assert chat(server, client).status_code == 200
        limited = chat(server, client)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        assert openai_error(limited)["code"] == "rate_limit_exceeded"
        server.reset()  # refills the buckets
        assert chat(server, client).headers["x-ratelimit-remaining-requests"] == "2"
    with AnthropicMockServer(rate_limits=RateLimits(requests=10, tokens=1000)) as server:
        ok = messages(server, client)
        assert ok.headers["anthropic-ratelimit-requests-remaining"] == "9"
        assert int(ok.headers["anthropic-ratelimit-output-tokens-remaining"]) == 1000 - MESSAGES["max_tokens"]


def test_server_faults_and_overload(oai: OpenAIMockServer, ant: AnthropicMockServer, client: httpx.Client) -> None:
    oai.faults.push(faults.ServerFault(500))
    error = openai_error(chat(oai, client))
    assert error["type"] == "server_error" and error["message"].startswith(
        "The server had an error processing your request. Sorry about that!"
    )
    oai.faults.push(faults.ServerFault(502))
    bad_gateway = chat(oai, client)
    assert bad_gateway.status_code == 502
    assert (
        bad_gateway.content == b'{"error":{"code":502,"message":"Bad gateway.","param":null,"type":"cf_bad_gateway"}}'
    )
    oai.faults.push(faults.Overloaded())
    overloaded = chat(oai, client)
    assert overloaded.status_code == 503
    assert openai_error(overloaded)["message"].startswith("That model is currently overloaded with other requests.")
    oai.faults.push(faults.QuotaExceeded())
    quota = chat(oai, client)
    assert quota.status_code == 429 and openai_error(quota)["code"] == "insufficient_quota"

    ant.faults.push(faults.Overloaded())
    busy = messages(ant, client)
    assert busy.status_code == 529
    assert busy.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": busy.headers["request-id"],
    }
    ant.faults.push(faults.ServerFault(500))
    internal = messages(ant, client)
    assert internal.status_code == 500
    assert anthropic_error(internal) == {"type": "api_error", "message": "Internal server error"}
    ant.faults.push(faults.QuotaExceeded())
    assert anthropic_error(messages(ant, client))["message"].startswith("Your credit balance is too low")


def test_error_event_mid_stream(oai: OpenAIMockServer, ant: AnthropicMockServer, client: httpx.Client) -> None:
    oai.scripts.push(Recording.raw(STREAM))
    oai.faults.push(faults.ErrorEvent(after_events=2))
    raw = chat(oai, client, stream=True).content
    events = synth.split_sse_events(raw)
    assert b"".join(events[:2]) == b"".join(synth.split_sse_events(STREAM)[:2])
    assert len(events) == 3 and b"[DONE]" not in raw
    error = json.loads(events[2][len(b"data: ") :])
    assert error["error"]["type"] == "server_error" and error["error"]["param"] is None

    oai.faults.push(faults.ErrorEvent(after_events=3, error_type="rate_limit_exceeded", message="slow down"))
    responses = client.post(
        f"{oai.base_url}/responses", headers=OPENAI_AUTH, json={"model": "gpt-4o-mini", "input": "hi", "stream": True}
    )
    kinds = sse_payloads(responses.content)
    assert [k for k, _ in kinds][-2:] == ["error", "response.failed"]
    assert json.loads(kinds[-2][1]) == {
        "type": "error",
        "sequence_number": 3,
        "error": {"type": "rate_limit_exceeded", "code": "rate_limit_exceeded", "message": "slow down", "param": None},
    }

    ant.faults.push(faults.ErrorEvent(after_events=1))
    anthropic_events = sse_payloads(messages(ant, client, stream=True).content)
    assert [k for k, _ in anthropic_events] == ["message_start", "error"]
    assert json.loads(anthropic_events[1][1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_malformed_event(oai: OpenAIMockServer, ant: AnthropicMockServer, client: httpx.Client) -> None:
    oai.scripts.push(Recording.raw(STREAM))
    oai.faults.push(faults.Malformed(after_events=1))
    events = synth.split_sse_events(chat(oai, client, stream=True).content)
    original = synth.split_sse_events(STREAM)
    assert events[:1] + events[2:] == original
    assert events[1].startswith(b"data: {") and events[1].endswith(b"\n\n")
    with pytest.raises(ValueError):
        json.loads(events[1][len(b"data: ") :])

    ant.faults.push(faults.Malformed(after_events=2))
    framed = synth.split_sse_events(messages(ant, client, stream=True).content)
    assert framed[2].startswith(b"event: ")
    with pytest.raises(ValueError):
        json.loads(framed[2].split(b"data: ", 1)[1])


def test_headers_fault_default_fault_and_combinations(oai: OpenAIMockServer, client: httpx.Client) -> None:
    oai.set_default_fault(faults.Headers({"x-ratelimit-remaining-requests": "0"}))
    assert chat(oai, client).headers["x-ratelimit-remaining-requests"] == "0"
    assert chat(oai, client).headers["x-ratelimit-remaining-requests"] == "0"
    oai.set_default_fault(None)
    assert "x-ratelimit-remaining-requests" not in chat(oai, client).headers

    oai.faults.push(faults.ServerFault(503), times=2)
    assert [chat(oai, client).status_code for _ in range(3)] == [503, 503, 200]

    oai.scripts.push(Recording.raw(STREAM))
    oai.faults.push([faults.Drip(bytes_per_write=3), faults.Disconnect(after_bytes=30)])
    received: list[bytes] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", f"{oai.base_url}/chat/completions", headers=OPENAI_AUTH, json=CHAT) as response,
    ):
        received.extend(response.iter_raw())
    assert b"".join(received) == STREAM[:30] and len(received) == 10

    for conflicting in ([faults.Overloaded(), faults.ServerFault()], [faults.Drip(), faults.Drip()]):
        with pytest.raises(ValueError, match="conflicting"):
            oai.faults.push(conflicting)
    with pytest.raises(TypeError):
        oai.faults.push(["nope"])
    with pytest.raises(ValueError):
        faults.ServerFault(404)
    with pytest.raises(ValueError):
        faults.Drip(bytes_per_write=0)


def test_faults_apply_to_the_next_request_whatever_the_route(ant: AnthropicMockServer, client: httpx.Client) -> None:
    ant.faults.push(faults.Overloaded())
    models = client.get(f"{ant.base_url}/v1/models", headers=ANT_HEADERS)
    assert models.status_code == 529
    assert messages(ant, client).status_code == 200


def test_go_duration_is_ascii_and_parses_back() -> None:
    # A sub-millisecond reset once went out as "µs" and the server failed to encode the header.
    from tokenwire.resilience.headers import parse_go_duration
    from tokenwire.testing._ratelimit import go_duration

    for seconds in (0.0, 0.000_000_5, 0.000_25, 0.012, 1.5, 359.56, 3600.0):
        text = go_duration(seconds)
        assert text.isascii(), text
        parsed = parse_go_duration(text)
        assert parsed is not None and abs(parsed - seconds) < 1e-6, (text, parsed)
    assert go_duration(0.000_25) == "250us"
