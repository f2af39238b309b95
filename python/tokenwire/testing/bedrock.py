"""A loopback mock of the AWS Bedrock runtime and control plane, byte-exact on the wire.

Routes (point the provider's ``endpoint_url`` and ``control_plane_url`` at ``server.url``):

- ``POST /model/{modelId}/converse`` — a Converse JSON response (``output.message.content``
  with ``reasoningContent``/``text``/``toolUse`` blocks, ``stopReason``, ``usage``,
  ``metrics``).
- ``POST /model/{modelId}/converse-stream`` — ``application/vnd.amazon.eventstream``:
  ``messageStart``, content block deltas (reasoning text then its signature, text, tool
  use start + input fragments + stop), ``messageStop``, ``metadata`` (usage, metrics);
  one event-stream message per HTTP chunk.
- ``POST /model/{modelId}/invoke`` and ``/invoke-with-response-stream`` — the model
  family's own payloads, chosen by the model id: ``anthropic.*`` Claude Messages
  (``anthropic_version: bedrock-2023-05-31`` is required in the body), ``amazon.titan-text*``
  Titan text, ``meta.llama*`` Llama; streamed as ``chunk`` events whose ``bytes`` is the
  base64 of each JSON chunk.
- ``GET /foundation-models`` — ``modelSummaries`` (``server.models`` or a default list).

The model id in the path may be a URL-encoded ARN or an inference-profile id.

Authentication is verified, as AWS does it: SigV4 (``Authorization: AWS4-HMAC-SHA256
Credential=…, SignedHeaders=…, Signature=…``) is recomputed with
:func:`tokenwire.aws.sign_request_details` over the request exactly as received (method,
raw target, the listed signed headers, the body bytes) for the access keys in
``credentials`` and compared; a Bedrock API key (``Authorization: Bearer …``) must equal
``bearer_token``. Refusals use AWS's restJson1 shape: a ``{"message": …}`` body with the
``x-amzn-ErrorType`` and ``x-amzn-RequestId`` headers — 403
``MissingAuthenticationTokenException`` / ``UnrecognizedClientException`` /
``InvalidSignatureException`` (with AWS's exact message) for auth, 400
``ValidationException`` for a bad body, 404 ``ResourceNotFoundException`` for a model
outside ``models``.

Faults: ``RateLimit``/``QuotaExceeded`` → 429 ``ThrottlingException`` "Too many requests,
please wait before trying again."; ``ServerFault`` → its status (500
``InternalServerException``, 503 ``ServiceUnavailableException``, other → its status with
``InternalServerException``); ``Overloaded`` → 503 ``ServiceUnavailableException``;
``ErrorEvent`` → an exception message mid-stream (``:exception-type`` =
``error_type`` or ``throttlingException``); ``Malformed`` → a message with a corrupted
CRC; ``Drip``/``Stall``/``Disconnect`` act on the bytes as for every server.

Sources: the Bedrock API reference (Converse, ConverseStream, InvokeModel*,
ListFoundationModels shapes and error names), AWS's SigV4 error messages. Assumed: the
message of a refused Bedrock API key and the ``metrics.latencyMs`` value.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union
from urllib.parse import unquote

from tokenwire.aws import sign_request_details
from tokenwire.testing._base import Exchange, MockServer, echo, estimate_request_tokens
from tokenwire.testing._script import Recording, Script
from tokenwire.testing._server import RecordedRequest, Reply
from tokenwire.testing.eventstream import encode_message, event_message, exception_message
from tokenwire.testing.faults import FaultPlan, Overloaded, QuotaExceeded, RateLimit, ServerFault
from tokenwire.testing.synth import Answer, stream_events

__all__ = ["DEFAULT_BEDROCK_MODELS", "BedrockMockServer", "converse_frames"]

DEFAULT_BEDROCK_MODELS: tuple[str, ...] = (
    "anthropic.claude-sonnet-4-20250514-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "amazon.titan-text-express-v1",
    "meta.llama3-1-70b-instruct-v1:0",
    "amazon.nova-pro-v1:0",
)

EVENT_STREAM = "application/vnd.amazon.eventstream"
_JSON = "application/json"
_ROUTE = re.compile(r"^/model/(?P<model>.+)/(?P<op>converse|converse-stream|invoke|invoke-with-response-stream)$")
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_THROTTLED = "Too many requests, please wait before trying again."
_WORDS = re.compile(r"\s*\S+")


def _words(text: str, per_chunk: int) -> list[str]:
    if not text:
        return []
    parts = _WORDS.findall(text)
    if per_chunk <= 0 or not parts:
        return [text]
    parts[-1] += text[sum(len(p) for p in parts) :]
    return ["".join(parts[i : i + per_chunk]) for i in range(0, len(parts), per_chunk)]


def _fragments(text: str, size: int) -> list[str]:
    if size <= 0 or not text:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _tool_id(seed: str, index: int) -> str:
    return "tooluse_" + hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:22]


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}


def converse_frames(answer: Answer, *, input_tokens: int = 0, seed: str = "tokenwire") -> list[bytes]:
    """``answer`` as ConverseStream event-stream messages (one per item)."""
    usage = answer.resolved_usage(input_tokens)
    out = [event_message("messageStart", {"role": "assistant"})]
    block = 0
    if answer.reasoning:
        for piece in _words(answer.reasoning, answer.chunk_words):
            delta = {"reasoningContent": {"text": piece}}
            out.append(event_message("contentBlockDelta", {"contentBlockIndex": block, "delta": delta}))
        signature = {"reasoningContent": {"signature": "c2lnbmF0dXJl"}}
        out.append(event_message("contentBlockDelta", {"contentBlockIndex": block, "delta": signature}))
        out.append(event_message("contentBlockStop", {"contentBlockIndex": block}))
        block += 1
    if answer.text:
        for piece in _words(answer.text, answer.chunk_words):
            out.append(event_message("contentBlockDelta", {"contentBlockIndex": block, "delta": {"text": piece}}))
        out.append(event_message("contentBlockStop", {"contentBlockIndex": block}))
        block += 1
    for n, (name, arguments) in enumerate(answer.tool_calls):
        start = {"toolUse": {"toolUseId": _tool_id(seed, n), "name": name}}
        out.append(event_message("contentBlockStart", {"contentBlockIndex": block, "start": start}))
        for piece in _fragments(arguments, answer.args_chunk_chars):
            delta = {"toolUse": {"input": piece}}
            out.append(event_message("contentBlockDelta", {"contentBlockIndex": block, "delta": delta}))
        out.append(event_message("contentBlockStop", {"contentBlockIndex": block}))
        block += 1
    reason = answer.finish_reason or ("tool_use" if answer.tool_calls else "end_turn")
    out.append(event_message("messageStop", {"stopReason": reason}))
    out.append(event_message("metadata", {"usage": _usage(usage), "metrics": {"latencyMs": 42}}))
    return out


def _usage(usage: Sequence[int]) -> dict[str, int]:
    return {
        "inputTokens": usage[0],
        "outputTokens": usage[1],
        "totalTokens": usage[0] + usage[1],
        "cacheReadInputTokens": usage[2],
        "cacheWriteInputTokens": usage[3],
    }


def _converse_body(answer: Answer, *, input_tokens: int, seed: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        content.append({"reasoningContent": {"reasoningText": {"text": answer.reasoning, "signature": "c2lnbmF0dXJl"}}})
    if answer.text:
        content.append({"text": answer.text})
    for n, (name, arguments) in enumerate(answer.tool_calls):
        content.append({"toolUse": {"toolUseId": _tool_id(seed, n), "name": name, "input": _input(arguments)}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": answer.finish_reason or ("tool_use" if answer.tool_calls else "end_turn"),
        "usage": _usage(answer.resolved_usage(input_tokens)),
        "metrics": {"latencyMs": 42},
    }


def _family(model_id: str) -> Optional[str]:
    """The invoke-model payload family of a model id / ARN / inference profile."""
    name = model_id.rsplit("/", 1)[-1]
    name = re.sub(r"^(us|eu|apac|us-gov|global|jp|au)\.", "", name)
    if name.startswith("anthropic."):
        return "anthropic"
    if name.startswith("amazon.titan-text"):
        return "titan"
    if name.startswith("meta.llama"):
        return "llama"
    return None


def _sse_payloads(events: Sequence[bytes]) -> list[bytes]:
    """The data of SSE frames (the synthesized Anthropic events) as JSON bytes."""
    out: list[bytes] = []
    for event in events:
        data = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
        if data:
            out.append(b"\n".join(data))
    return out


def _chunk(payload: bytes) -> bytes:
    return event_message("chunk", {"bytes": base64.b64encode(payload).decode("ascii")})


class BedrockMockServer(MockServer):
    """Loopback Bedrock runtime + control plane (see the module docs).

    ``credentials`` maps accepted access key ids to secret keys (SigV4);
    ``bearer_token`` is the accepted Bedrock API key; ``region`` the region signatures
    must be scoped to. With neither credentials nor a bearer token, any well-formed
    ``Authorization`` header is accepted.
    """

    provider = "bedrock"

    def __init__(
        self,
        *,
        credentials: Optional[Mapping[str, str]] = None,
        bearer_token: Optional[str] = None,
        region: str = "us-east-1",
        script: Optional[Script] = None,
        models: Optional[Sequence[str]] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str = "tokenwire",
    ) -> None:
        super().__init__(api_key=bearer_token, script=script, models=models, host=host, port=port, seed=seed)
        self.credentials: dict[str, str] = dict(credentials or {})
        self.bearer_token = bearer_token
        self.region = region

    # -- plumbing -------------------------------------------------------------

    def _request_id(self, number: int) -> str:
        digest = hashlib.sha256(f"{self._seed}:bedrock:{number}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def _error(self, ex: Exchange, status: int, error_type: str, message: str) -> Reply:
        headers = [
            ("Content-Type", _JSON),
            ("x-amzn-RequestId", ex.request_id),
            ("x-amzn-ErrorType", f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        ]
        return Reply(status, headers, [json.dumps({"message": message}).encode()])

    def _ok(self, ex: Exchange, content_type: str, chunks: list[bytes], stream: bool) -> Reply:
        headers = [("Content-Type", content_type), ("x-amzn-RequestId", ex.request_id)]
        if stream:
            headers.append(("x-amzn-bedrock-content-type", _JSON))
        return Reply(200, headers, chunks, stream=stream)

    def _fault_reply(
        self, fault: Union[RateLimit, QuotaExceeded, ServerFault, Overloaded], request: RecordedRequest, ex: Exchange
    ) -> Reply:
        if isinstance(fault, (RateLimit, QuotaExceeded)):
            return self._error(ex, 429, "ThrottlingException", _THROTTLED)
        if isinstance(fault, Overloaded):
            return self._error(ex, 503, "ServiceUnavailableException", "Bedrock is unable to process your request.")
        if fault.status == 503:
            message = fault.message or "Bedrock is unable to process your request."
            return self._error(ex, 503, "ServiceUnavailableException", message)
        message = fault.message or "The server encountered an internal error while processing the request."
        return self._error(ex, fault.status, "InternalServerException", message)

    # -- authentication ---------------------------------------------------------

    def _auth_failure(self, request: RecordedRequest, ex: Exchange) -> Optional[Reply]:
        authorization = request.header("authorization")
        if not authorization:
            return self._error(ex, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        if authorization.startswith("Bearer "):
            if self.bearer_token is not None and authorization[7:] != self.bearer_token:
                return self._error(
                    ex, 403, "AccessDeniedException", "Authentication failed: Please make sure your API Key is valid."
                )
            return None
        match = _AUTH.match(authorization)
        if match is None:
            return self._error(
                ex,
                403,
                "IncompleteSignatureException",
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
            )
        if not self.credentials and self.bearer_token is None:
            return None
        secret = self.credentials.get(match["key"])
        if secret is None:
            return self._error(
                ex, 403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        amz_date = request.header("x-amz-date") or ""
        try:
            timestamp = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            return self._error(ex, 403, "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'.")
        signed = match["signed"].split(";")
        skip = {"authorization", "x-amz-date", "x-amz-security-token"}
        headers = [(k, v) for k, v in request.headers if k.lower() in signed and k.lower() not in skip]
        host = request.header("host") or f"{self.host}:{self.port}"
        try:
            details = sign_request_details(
                request.method,
                f"http://{host}{request.target}",
                headers,
                request.body,
                region=match["region"],
                service=match["service"],
                access_key=match["key"],
                secret_key=secret,
                session_token=request.header("x-amz-security-token"),
                timestamp=timestamp,
            )
        except ValueError:
            return self._error(ex, 403, "InvalidSignatureException", _BAD_SIGNATURE)
        expected = details.headers["Authorization"]
        if expected != authorization or match["region"] != self.region or match["service"] != "bedrock":
            return self._error(ex, 403, "InvalidSignatureException", _BAD_SIGNATURE)
        return None

    # -- routes -------------------------------------------------------------------

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        if request.method == "GET" and request.path == "/foundation-models":
            failure = self._auth_failure(request, ex)
            return failure or self._ok(ex, _JSON, [self._models_body()], stream=False)
        route = _ROUTE.match(request.path)
        if request.method != "POST" or route is None:
            return self._error(ex, 404, "UnknownOperationException", "The requested operation is not recognized.")
        failure = self._auth_failure(request, ex)
        if failure is not None:
            return failure
        model = unquote(route["model"])
        if self.models is not None and model not in self.models:
            return self._error(
                ex, 404, "ResourceNotFoundException", "Model not found: the provided model identifier is invalid."
            )
        try:
            document = json.loads(request.body)
        except ValueError:
            return self._error(
                ex, 400, "ValidationException", "Malformed input request, please reformat your input and try again."
            )
        if not isinstance(document, dict):
            return self._error(
                ex, 400, "ValidationException", "Malformed input request, please reformat your input and try again."
            )
        op = route["op"]
        if op.startswith("converse"):
            return self._converse(request, ex, document, model, stream=op == "converse-stream")
        return self._invoke(request, ex, document, model, stream=op == "invoke-with-response-stream")

    def _models_body(self) -> bytes:
        summaries: list[dict[str, Any]] = []
        for model_id in self.models or DEFAULT_BEDROCK_MODELS:
            provider = model_id.split(".", 1)[0]
            summaries.append(
                {
                    "modelArn": f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}",
                    "modelId": model_id,
                    "modelName": model_id.split(".", 1)[-1],
                    "providerName": {"amazon": "Amazon", "anthropic": "Anthropic", "meta": "Meta"}.get(
                        provider, provider
                    ),
                    "inputModalities": ["TEXT", "IMAGE"] if provider == "anthropic" else ["TEXT"],
                    "outputModalities": ["TEXT"],
                    "responseStreamingSupported": True,
                    "customizationsSupported": [],
                    "inferenceTypesSupported": ["ON_DEMAND"],
                    "modelLifecycle": {"status": "ACTIVE"},
                }
            )
        return json.dumps({"modelSummaries": summaries}).encode()

    def _script(self, request: RecordedRequest, document: dict[str, Any]) -> Union[Answer, Recording]:
        script = self._next_script(request)
        if script is not None:
            return script
        return Answer(echo(_last_user_text(document)))

    def _converse(
        self, request: RecordedRequest, ex: Exchange, document: dict[str, Any], model: str, *, stream: bool
    ) -> Reply:
        if not isinstance(document.get("messages"), list):
            return self._error(ex, 400, "ValidationException", "The provided request is not valid")
        script = self._script(request, document)
        tokens = estimate_request_tokens(document)
        if isinstance(script, Recording):
            if script.lines is not None and stream:
                frames = [_line_frame(line) for line in script.lines]
                return self._stream(ex, frames)
            return Reply(
                script.status,
                [("Content-Type", script.media_type), ("x-amzn-RequestId", ex.request_id), *script.headers],
                [script.data],
                stream=False,
            )
        if stream:
            return self._stream(ex, converse_frames(script, input_tokens=tokens, seed=self._seed))
        body = json.dumps(_converse_body(script, input_tokens=tokens, seed=self._seed)).encode()
        return self._ok(ex, _JSON, [body], stream=False)

    def _invoke(
        self, request: RecordedRequest, ex: Exchange, document: dict[str, Any], model: str, *, stream: bool
    ) -> Reply:
        family = _family(model)
        if family is None:
            return self._error(ex, 400, "ValidationException", "The provided model doesn't support this invocation.")
        if family == "anthropic" and document.get("anthropic_version") != "bedrock-2023-05-31":
            return self._error(
                ex,
                400,
                "ValidationException",
                "Malformed input request: #: required key [anthropic_version] not found, "
                "please reformat your input and try again.",
            )
        script = self._script(request, document)
        if isinstance(script, Recording):
            return Reply(script.status, [("Content-Type", script.media_type), *script.headers], [script.data])
        text_in = json.dumps(document)
        tokens = max(1, len(text_in) // 4)
        usage = script.resolved_usage(tokens)
        if family == "anthropic":
            if stream:
                events = stream_events(script, "anthropic", model=model, input_tokens=tokens)
                return self._stream(ex, [_chunk(p) for p in _sse_payloads(events)])
            from tokenwire.testing.synth import body as synth_body

            return self._ok(
                ex, _JSON, [synth_body(script, "anthropic", model=model, input_tokens=tokens)], stream=False
            )
        pieces = _words(script.text, script.chunk_words) or [""]
        if family == "titan":
            reason = script.finish_reason or "FINISH"
            if not stream:
                result = {"tokenCount": usage[1], "outputText": script.text, "completionReason": reason}
                body = {"inputTextTokenCount": usage[0], "results": [result]}
                return self._ok(ex, _JSON, [json.dumps(body).encode()], stream=False)
            chunks = []
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                chunk: dict[str, Any] = {
                    "outputText": piece,
                    "index": 0,
                    "totalOutputTextTokenCount": usage[1] if last else i + 1,
                    "completionReason": reason if last else None,
                }
                if i == 0:
                    chunk["inputTextTokenCount"] = usage[0]
                chunks.append(_chunk(json.dumps(chunk).encode()))
            return self._stream(ex, chunks)
        reason = script.finish_reason or "stop"
        if not stream:
            body = {
                "generation": script.text,
                "prompt_token_count": usage[0],
                "generation_token_count": usage[1],
                "stop_reason": reason,
            }
            return self._ok(ex, _JSON, [json.dumps(body).encode()], stream=False)
        chunks = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            chunk = {
                "generation": piece,
                "prompt_token_count": usage[0] if i == 0 else None,
                "generation_token_count": usage[1] if last else i + 1,
                "stop_reason": reason if last else None,
            }
            chunks.append(_chunk(json.dumps(chunk).encode()))
        return self._stream(ex, chunks)

    def _stream(self, ex: Exchange, frames: list[bytes]) -> Reply:
        return self._ok(ex, EVENT_STREAM, _apply_faults(frames, ex.plan), stream=True)


def _apply_faults(frames: list[bytes], plan: FaultPlan) -> list[bytes]:
    if plan.error_event is not None:
        cut = min(plan.error_event.after_events, len(frames))
        kind = plan.error_event.error_type or "throttlingException"
        frames = [*frames[:cut], exception_message(kind, plan.error_event.message or _THROTTLED)]
    if plan.malformed is not None:
        at = min(plan.malformed.after_events, len(frames))
        bad = bytearray(encode_message({":message-type": "event", ":event-type": "metadata"}, b"{}"))
        bad[-1] ^= 0xFF
        frames = [*frames[:at], bytes(bad), *frames[at:]]
    return frames


def _line_frame(line: str) -> bytes:
    """A recorded ConverseStream line ``{"<eventType>": {...}}`` as its event message (SOURCES.md)."""
    [(event_type, inner)] = json.loads(line).items()
    return event_message(event_type, inner)


def _last_user_text(document: Mapping[str, Any]) -> str:
    messages = document.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):  # pyright: ignore[reportUnknownVariableType]
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return "".join(
                        str(part["text"])  # pyright: ignore[reportUnknownArgumentType]
                        for part in content  # pyright: ignore[reportUnknownVariableType]
                        if isinstance(part, dict) and isinstance(part.get("text"), str)  # pyright: ignore[reportUnknownMemberType]
                    )
    prompt = document.get("prompt") or document.get("inputText")
    return prompt if isinstance(prompt, str) else ""
