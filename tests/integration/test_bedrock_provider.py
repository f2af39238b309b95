"""The Bedrock adapter end to end over real sockets against ``BedrockMockServer``: the
server recomputes every SigV4 signature (and checks bearer keys); exact headers and
Converse / InvokeModel bodies; event streams decoded char for char (whole, dripped byte by
byte, recorded ConverseStream fixtures); typed errors (ThrottlingException, 5xx, an
exception frame mid-stream, a corrupted frame, a cut connection); list_models."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Generator
from typing import Any, Optional

import pytest
from tests.conftest import RECORDED, require_recorded
from tests.integration._streams import Got, check_broken_streams, consume

from tokenwire._http import Timeouts
from tokenwire.errors import (
    BadRequestError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from tokenwire.providers.bedrock import BedrockProvider, inference_profile_prefix, parse_arn
from tokenwire.registry import ProviderRegistry
from tokenwire.testing import Answer, Recording, faults
from tokenwire.testing.bedrock import BedrockMockServer
from tokenwire.types import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    coerce_messages,
)

pytestmark = pytest.mark.anyio

TIMEOUTS = Timeouts(connect=2.0, read=10.0, write=5.0, pool=5.0, idle=5.0, total=20.0)
AKID, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-xyz"
SONNET = "anthropic.claude-sonnet-4-20250514-v1:0"
ANSWER = Answer(
    text='Bonjour, wörld 你好 🌍 — "quoted"\nsecond line.',
    reasoning="Thinking about greetings 思考.",
    tool_calls=[("get_weather", '{"city":"Paris","days":2}')],
    usage=(17, 29, 5, 3),
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")


@contextlib.contextmanager
def serving(**options: Any) -> Generator[BedrockMockServer, None, None]:
    with BedrockMockServer(credentials={AKID: SECRET}, bearer_token="bedrock-api-key", **options) as server:
        yield server


@contextlib.asynccontextmanager
async def client(server: BedrockMockServer, **options: Any) -> AsyncGenerator[BedrockProvider, None]:
    options.setdefault("access_key", AKID)
    options.setdefault("secret_key", SECRET)
    async with BedrockProvider(
        region="us-east-1", endpoint_url=server.url, control_plane_url=server.url, timeouts=TIMEOUTS, **options
    ) as provider:
        yield provider


def req(model: str = SONNET, *messages: Any, **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model=model, messages=coerce_messages(messages or ({"role": "user", "content": "Hi"},)), **kwargs
    )


def check_answer(got: Got) -> None:
    assert got.text == ANSWER.text
    assert got.reasoning == ANSWER.reasoning
    assert [c[1:] for c in got.calls.values()] == [["get_weather", '{"city":"Paris","days":2}']]
    assert got.finish == ["tool_use"]
    usage = got.usage
    assert [(u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens) for u in usage] == [
        (17, 29, 5, 3)
    ]


# -- the wire --------------------------------------------------------------------------------------


async def test_sigv4_headers_path_and_converse_body() -> None:
    with serving() as server:
        async with client(server, session_token=TOKEN) as provider:
            server.scripts.push(ANSWER)
            got = await consume(
                provider.chat_stream(
                    req(
                        SONNET,
                        {"role": "user", "content": "Hello"},
                        system="Be brief.",
                        max_tokens=512,
                        stop=("END",),
                        tools=(Tool("get_weather", "Weather", {"type": "object", "properties": {}}),),
                        tool_choice="auto",
                    )
                )
            )
            check_answer(got)
            sent = server.last_request
            # The server verified the signature (else 403); the path is the encoded model id.
            assert sent.target == "/model/anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
            assert sent.header("x-amz-security-token") == TOKEN
            auth = sent.header("authorization") or ""
            assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={AKID}/")
            assert "/us-east-1/bedrock/aws4_request" in auth
            assert "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token," in auth
            assert sent.header("accept") == "application/vnd.amazon.eventstream"
            assert sent.json() == {
                "messages": [
                    {"role": "user", "content": [{"text": "Hello"}, {"cachePoint": {"type": "default"}}]},
                ],
                "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
                "inferenceConfig": {"maxTokens": 512, "temperature": 0.3, "stopSequences": ["END"]},
                "toolConfig": {
                    "tools": [
                        {
                            "toolSpec": {
                                "name": "get_weather",
                                "description": "Weather",
                                "inputSchema": {"json": {"type": "object", "properties": {}}},
                            }
                        }
                    ],
                    "toolChoice": {"auto": {}},
                },
            }


async def test_messages_images_tools_thinking_1m_and_cache_points() -> None:
    with serving() as server:
        async with client(server, cross_region_inference=True, context_1m=True) as provider:
            messages = (
                Message("user", (TextPart("look"), ImagePart(data="iVBORw0KGgo=", media_type="image/png"))),
                Message("assistant", "calling", tool_calls=(ToolCall("tu_1", "f", '{"a":1}'),)),
                Message("tool", "sunny", tool_call_id="tu_1"),
                Message("tool", "boom", tool_call_id="tu_2", is_error=True),
                Message("user", "thanks"),
            )
            await provider.chat(ChatRequest(model=SONNET, messages=messages, thinking_budget=2048, temperature=0.5))
            sent = server.last_request
            assert sent.target == "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
            body = sent.json()
            cache = {"cachePoint": {"type": "default"}}
            assert body["messages"] == [
                {
                    "role": "user",
                    "content": [
                        {"text": "look"},
                        {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                        cache,  # the last two user messages get a cache point
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"text": "calling"},
                        {"toolUse": {"toolUseId": "tu_1", "name": "f", "input": {"a": 1}}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"toolResult": {"toolUseId": "tu_1", "content": [{"text": "sunny"}], "status": "success"}},
                        {"toolResult": {"toolUseId": "tu_2", "content": [{"text": "boom"}], "status": "error"}},
                        {"text": "thanks"},
                        cache,
                    ],
                },
            ]
            assert body["inferenceConfig"] == {"temperature": 1.0}
            assert body["additionalModelRequestFields"] == {
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "anthropic_beta": ["context-1m-2025-08-07"],
            }
            assert "system" not in body


async def test_bearer_mode_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving() as server:
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key")
        async with BedrockProvider(region="us-east-1", endpoint_url=server.url, timeouts=TIMEOUTS) as provider:
            server.scripts.push(Answer("hi"))
            reply = await provider.chat(req())
            assert reply.text == "hi"
            assert server.last_request.header("authorization") == "Bearer bedrock-api-key"
            assert "x-amz-date" not in server.last_request.headers
            assert "bedrock-api-key" not in repr(provider)
        async with BedrockProvider(api_key="wrong", region="us-east-1", endpoint_url=server.url) as provider:
            with pytest.raises(PermissionDeniedError) as info:
                await provider.chat(req())
            assert "wrong" not in str(info.value) and "wrong" not in repr(info.value)
        monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK")
        async with client(server, secret_key="not-the-secret") as provider:
            with pytest.raises(PermissionDeniedError) as info:
                await provider.chat(req())
            assert info.value.message.startswith("The request signature we calculated does not match")
            assert info.value.request_id
            assert "not-the-secret" not in str(info.value) and "not-the-secret" not in repr(provider)


@pytest.mark.parametrize("drip", [None, faults.Drip(bytes_per_write=1)])
async def test_stream_char_for_char(drip: Optional[faults.Drip]) -> None:
    with serving() as server:
        async with client(server) as provider:
            server.scripts.push(ANSWER)
            if drip is not None:
                server.faults.push(drip)
            check_answer(await consume(provider.chat_stream(req())))


async def test_invoke_model_families() -> None:
    with serving() as server:
        async with client(server, invoke_model=True) as provider:
            for model in (SONNET, "amazon.titan-text-express-v1", "meta.llama3-1-70b-instruct-v1:0"):
                server.scripts.push(Answer("Hello there friend", usage=(4, 6)))
                got = await consume(provider.chat_stream(req(model, system="sys")))
                assert got.text == "Hello there friend", model
                assert [(u.input_tokens, u.output_tokens) for u in got.usage] == [(4, 6)]
                assert server.last_request.path.endswith("/invoke-with-response-stream")
                server.scripts.push(Answer("Whole", usage=(1, 2)))
                reply = await provider.chat(req(model))
                assert (reply.text, reply.provider) == ("Whole", "bedrock"), model
            claude_body = server.requests[0].json()
            assert claude_body["anthropic_version"] == "bedrock-2023-05-31"
            assert claude_body["system"] == "sys"
            titan = server.requests[2].json()
            assert titan == {"inputText": "sys\nUser: Hi\nBot:", "textGenerationConfig": {"maxTokenCount": 4096}}
            llama = server.requests[4].json()
            assert llama["prompt"].startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nsys")
            assert llama["prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


async def test_errors_are_typed() -> None:
    cases: list[tuple[Any, type[Exception], str]] = [
        (faults.RateLimit(), RateLimitError, "Too many requests, please wait before trying again."),
        (faults.ServerFault(status=500), ServerError, ""),
        (faults.ServerFault(status=503), OverloadedError, ""),
        (faults.Overloaded(), OverloadedError, ""),
    ]
    with serving() as server:
        async with client(server) as provider:
            for fault, cls, message in cases:
                server.faults.push(fault)
                with pytest.raises(cls) as info:
                    await consume(provider.chat_stream(req()))
                assert info.value.request_id  # type: ignore[attr-defined]
                if message:
                    assert info.value.message == message  # type: ignore[attr-defined]
        with BedrockMockServer(credentials={AKID: SECRET}, models=[SONNET]) as strict:
            async with client(strict) as provider:
                with pytest.raises(NotFoundError):
                    await provider.chat(req("amazon.nova-pro-v1:0"))
                with pytest.raises(BadRequestError):
                    await provider.chat(req(SONNET, extra_body={"messages": "nope"}))


async def test_stream_exception_frame_corruption_and_cut() -> None:
    with serving() as server:
        async with client(server) as provider:
            server.scripts.push(ANSWER)
            server.faults.push(faults.ErrorEvent(after_events=4, message="Too many tokens"))
            got = Got()
            with pytest.raises(RateLimitError) as failed:
                await consume(provider.chat_stream(req()), got)
            assert failed.value.message == "Too many tokens" and failed.value.provider == "bedrock"
            assert got.reasoning, "tokens before the exception are delivered"
            server.scripts.push(ANSWER)
            server.faults.push(faults.ErrorEvent(after_events=2, error_type="modelStreamErrorException", message="x"))
            with pytest.raises(ServerError):
                await consume(provider.chat_stream(req()))
            await check_broken_streams(provider, server, req(), ANSWER, cut_after=300)


async def test_recorded_converse_streams_replayed() -> None:
    require_recorded()
    files = sorted((RECORDED / "vercel-ai" / "amazon-bedrock").glob("*.chunks.txt"))
    with serving() as server:
        async with client(server) as provider:
            for path in files:
                lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
                server.scripts.push(Recording.from_file(path))
                server.faults.push(faults.Drip(bytes_per_write=7))
                got = await consume(provider.chat_stream(req()))
                text = "".join(
                    ln["contentBlockDelta"]["delta"].get("text", "") for ln in lines if "contentBlockDelta" in ln
                )
                assert got.text == text, path.name
                stops = [ln["messageStop"]["stopReason"] for ln in lines if "messageStop" in ln]
                assert got.finish == stops, path.name


async def test_list_models_and_registry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serving() as server:
        async with client(server) as provider:
            models = await provider.list_models()
            assert [m.id for m in models][:2] == [SONNET, "anthropic.claude-3-5-haiku-20241022-v1:0"]
            assert models[0].supports_images and models[0].supports_prompt_cache
            assert server.last_request.path == "/foundation-models"
    assert SECRET not in caplog.text
    assert ProviderRegistry.default().factory("bedrock") is BedrockProvider


def test_model_ids_and_arns() -> None:
    assert inference_profile_prefix("us-gov-west-1") == "ug."
    assert inference_profile_prefix("ap-southeast-2") == "apac."
    assert inference_profile_prefix("me-central-1") is None
    arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0"
    assert parse_arn(arn) == ("eu-west-1", "inference-profile", "eu.anthropic.claude-sonnet-4-20250514-v1:0")
    provider = BedrockProvider(custom_arn=arn, access_key=AKID, secret_key=SECRET)
    assert provider.region == "eu-west-1"
    assert provider.base_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    assert provider.resolve_model_id("ignored") == arn
    fm = "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"
    assert BedrockProvider(region="us-west-2").resolve_model_id(fm) == "anthropic.claude-3-5-haiku-20241022-v1:0"
    call = BedrockProvider(custom_arn=arn, access_key=AKID, secret_key=SECRET).build_chat_call(req(), stream=True)
    assert call.url.endswith(
        "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
    )
    assert call.stream_options == {} and call.dialect == "bedrock"
    assert SECRET not in repr(provider)
