"""AWS Bedrock: the Converse / ConverseStream API and InvokeModel(WithResponseStream) for
model-family payloads, without boto3 — SigV4 signing by :mod:`tokenwire.aws`, the binary
event stream decoded by the native ``bedrock`` dialect. Follows Roo-Code's
``src/api/providers/bedrock.ts`` and ``src/api/transform/bedrock-converse-format.ts``
(RooCodeInc/Roo-Code at ``9bcd9918``), in our own code.

Endpoints
    Runtime ``https://bedrock-runtime.{region}.amazonaws.com`` (``endpoint_url=`` overrides
    it, e.g. a VPC endpoint; else ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` as in the AWS SDKs):
    ``POST /model/{modelId}/converse``, ``/converse-stream``, ``/invoke``,
    ``/invoke-with-response-stream``; the model id (or ARN) is URL-encoded into one path
    segment. Control plane ``https://bedrock.{region}.amazonaws.com``
    (``control_plane_url=``, else ``AWS_ENDPOINT_URL_BEDROCK``): ``GET /foundation-models``
    for :meth:`list_models`.

Auth
    A Bedrock API key (``api_key=`` or ``AWS_BEARER_TOKEN_BEDROCK``) is sent as
    ``Authorization: Bearer``; otherwise the request is signed with SigV4 (service
    ``bedrock``) using :func:`tokenwire.aws.resolve_credentials` (``access_key=`` /
    ``secret_key=`` / ``session_token=``, the ``AWS_*`` variables, or ``profile=`` in the
    shared files). The body is serialized here and sent as those exact bytes, so the
    signature covers what goes on the wire. Region: ``region=``, else the custom ARN's
    region, else :func:`tokenwire.aws.resolve_region`, else ``us-east-1``.

Model ids (Roo's rules)
    ``cross_region_inference=True`` prefixes the id with the inference-profile prefix of
    the region (``us-gov-`` → ``ug.``, ``us-`` → ``us.``, ``eu-`` → ``eu.``, ``ap-`` →
    ``apac.``, ``ca-`` → ``ca.``, ``sa-`` → ``sa.``) unless it already has one. A custom
    ARN (``custom_arn=`` or a model that starts with ``arn:``) —
    ``arn:aws:bedrock:{region}:{account}:{type}/{id}`` for foundation models, inference
    profiles, prompt routers, provisioned or imported models — sets the region from the
    ARN; a ``foundation-model`` ARN is replaced by its base model id, any other ARN is
    sent as the model id.

Converse body
    ``messages`` (roles user/assistant; text, ``image`` {format, source.bytes} from inline
    base64 images, ``toolUse`` {toolUseId, name, input} for assistant tool calls,
    ``toolResult`` {toolUseId, content[text], status success/error} for tool messages;
    consecutive same-role messages are merged, as Bedrock requires alternation),
    ``system`` text blocks (the system prompt, then any system-role messages),
    ``inferenceConfig`` {maxTokens (when set), temperature (the request's, else Roo's
    0.3; 1.0 with thinking, as Anthropic requires), topP, stopSequences}, ``toolConfig``
    {tools[toolSpec{name, description, inputSchema.json}], toolChoice auto/any/tool}.
    Prompt caching (``prompt_cache=True``, for models that support it: Claude and Nova):
    a ``cachePoint`` block after the system prompt and at the end of the last two user
    messages — a simplification of Roo's multi-point strategy, documented as such.
    Extended thinking (``request.thinking_budget``, Claude models):
    ``additionalModelRequestFields.thinking = {type: enabled, budget_tokens}``; the 1M
    context beta (``context_1m=True`` on Claude Sonnet 4 / 4.5):
    ``additionalModelRequestFields.anthropic_beta = ["context-1m-2025-08-07"]``.
    ``request.extra_body`` is merged into the body last.

InvokeModel (``invoke_model=True`` here, or ``request.options["invoke_model"]``)
    The model family is read from the id: Anthropic Claude (Messages body with
    ``anthropic_version: bedrock-2023-05-31``, built by the Anthropic adapter's
    converters), Amazon Titan text (``inputText`` as ``User:``/``Bot:`` turns,
    ``textGenerationConfig``), Meta Llama (Llama 3 chat-template ``prompt``,
    ``max_gen_len``, ``temperature``, ``top_p``). Streams use the ``bedrock`` dialect with
    ``invoke_model`` set to the family.

``request.options`` keys
    ``invoke_model`` (bool) as above.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Optional
from urllib.parse import quote

import httpx

from tokenwire._http import Timeouts
from tokenwire.aws import AwsCredentials, resolve_credentials, resolve_region, sign_request
from tokenwire.errors import ConfigurationError, ProviderError
from tokenwire.providers.base import HttpCall, Provider, merge_headers
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    ModelInfo,
    ProviderCapabilities,
    TextPart,
    ToolCall,
    Usage,
)

__all__ = ["BedrockProvider", "inference_profile_prefix", "parse_arn"]

_PROFILE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("us-gov-", "ug."),
    ("us-", "us."),
    ("eu-", "eu."),
    ("ap-", "apac."),
    ("ca-", "ca."),
    ("sa-", "sa."),
)
_CONTEXT_1M_MODELS = frozenset({"anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"})
_CONTEXT_1M_BETA = "context-1m-2025-08-07"
_ARN = re.compile(r"^arn:aws:(?:bedrock|sagemaker):([^:]+):([^:]*):(?:([^/]+)/([\w.\-:]+)|([^/]+))$")
_DEFAULT_TEMPERATURE = 0.3
_ANTHROPIC_VERSION = "bedrock-2023-05-31"
_IMAGE_FORMATS = {"png", "jpeg", "gif", "webp"}
_EVENT_STREAM = "application/vnd.amazon.eventstream"


def inference_profile_prefix(region: str) -> Optional[str]:
    """The cross-region inference profile prefix for ``region`` (``us-east-1`` → ``us.``)."""
    for pattern, prefix in _PROFILE_PREFIXES:
        if region.startswith(pattern):
            return prefix
    return None


def base_model_id(model_id: str) -> str:
    """``model_id`` without a cross-region inference profile prefix."""
    for _, prefix in _PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def parse_arn(arn: str) -> Optional[tuple[str, str, str]]:
    """``(region, resource type, resource id)`` of a Bedrock ARN, or ``None`` if it is not one."""
    match = _ARN.match(arn)
    if match is None or not match[1] or not match[3] or not match[4]:
        return None
    return match[1], match[3], match[4]


def _family(model_id: str) -> Optional[str]:
    name = base_model_id(model_id.rsplit("/", 1)[-1])
    if name.startswith("global."):
        name = name[len("global.") :]
    for prefix, family in (("anthropic.", "anthropic"), ("amazon.titan-text", "titan"), ("meta.llama", "llama")):
        if name.startswith(prefix):
            return family
    return None


def _supports_cache(model_id: str) -> bool:
    name = base_model_id(model_id.rsplit("/", 1)[-1])
    return name.startswith(("anthropic.claude", "amazon.nova"))


class BedrockProvider(Provider):
    """AWS Bedrock runtime (see the module docs for every rule)."""

    name: ClassVar[str] = "bedrock"
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        streaming=True, tools=True, images=True, reasoning=True, prompt_cache=True, list_models=True
    )
    api_key_env: ClassVar[tuple[str, ...]] = ("AWS_BEARER_TOKEN_BEDROCK",)
    # The AWS SDKs' service-specific endpoint variable.
    base_url_env: ClassVar[tuple[str, ...]] = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",)
    # SigV4 credentials are the alternative to a key.
    requires_api_key: ClassVar[bool] = False

    def __init__(
        self,
        *,
        region: Optional[str] = None,
        access_key: Optional[str] = None,
        secret_key: Optional[str] = None,
        session_token: Optional[str] = None,
        profile: Optional[str] = None,
        api_key: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        control_plane_url: Optional[str] = None,
        cross_region_inference: bool = False,
        custom_arn: Optional[str] = None,
        prompt_cache: bool = True,
        context_1m: bool = False,
        invoke_model: bool = False,
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        """
        Args:
            region: the AWS region (see the module docs for the fallbacks).
            access_key / secret_key / session_token / profile: SigV4 credentials.
            api_key: a Bedrock API key (``Authorization: Bearer``), else
                ``AWS_BEARER_TOKEN_BEDROCK``; takes precedence over SigV4.
            endpoint_url: the runtime endpoint (VPC endpoint, proxy, mock server).
            control_plane_url: the control-plane endpoint for ``list_models``.
            cross_region_inference: prefix model ids with the region's inference profile.
            custom_arn: a model / inference-profile / prompt-router ARN to use for every request.
            prompt_cache: add ``cachePoint`` blocks for models that support caching.
            context_1m: enable the 1M-token context beta on Claude Sonnet 4 / 4.5.
            invoke_model: use InvokeModel with the model family's own payloads instead of Converse.
        """
        super().__init__(
            api_key=api_key,
            base_url=endpoint_url,
            timeouts=timeouts,
            headers=headers,
            http_client=http_client,
            coalesce=coalesce,
        )
        if custom_arn is not None and parse_arn(custom_arn) is None:
            raise ConfigurationError(
                "bedrock: invalid custom_arn; expected arn:aws:bedrock:<region>:<account>:<type>/<id>"
            )
        self._region_arg = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._session_token = session_token
        self.profile = profile
        self._control_plane_url = control_plane_url
        self.cross_region_inference = cross_region_inference
        self.custom_arn = custom_arn
        self.prompt_cache = prompt_cache
        self.context_1m = context_1m
        self.invoke_model = invoke_model
        self._credentials: Optional[AwsCredentials] = None

    # -- configuration ------------------------------------------------------------

    @property
    def region(self) -> str:
        """The region requests go to."""
        if self._region_arg:
            return self._region_arg
        if self.custom_arn is not None:
            parsed = parse_arn(self.custom_arn)
            if parsed is not None:
                return parsed[0]
        return resolve_region(self.profile) or "us-east-1"

    @property
    def base_url(self) -> str:
        url = self._base_url_arg or next((os.environ[v] for v in self.base_url_env if os.environ.get(v)), None)
        return (url or f"https://bedrock-runtime.{self.region}.amazonaws.com").rstrip("/")

    @property
    def control_plane_url(self) -> str:
        """The control-plane endpoint (``list_models``)."""
        url = self._control_plane_url or os.environ.get("AWS_ENDPOINT_URL_BEDROCK")
        return (url or f"https://bedrock.{self.region}.amazonaws.com").rstrip("/")

    def has_credentials(self) -> bool:
        if self.api_key:
            return True
        try:
            self._aws_credentials()
        except ConfigurationError:
            return False
        return True

    def _aws_credentials(self) -> AwsCredentials:
        if self._credentials is None:
            self._credentials = resolve_credentials(
                self.profile,
                access_key=self._access_key,
                secret_key=self._secret_key,
                session_token=self._session_token,
            )
        return self._credentials

    def _secrets(self) -> tuple[Optional[str], ...]:
        return (self.api_key, self._secret_key, self._session_token)

    def __repr__(self) -> str:
        auth = "api_key" if self.api_key else "sigv4"
        return f"<BedrockProvider 'bedrock' region={self.region!r} base_url={self.base_url!r} auth={auth}>"

    # -- model ids ----------------------------------------------------------------

    def resolve_model_id(self, model: str) -> str:
        """The model id (or ARN) the request is sent to (see the module docs)."""
        arn = self.custom_arn or (model if model.startswith("arn:") else None)
        if arn is not None:
            parsed = parse_arn(arn)
            if parsed is None:
                raise ConfigurationError(f"bedrock: invalid model ARN {arn!r}")
            _, kind, resource = parsed
            return base_model_id(resource) if kind == "foundation-model" else arn
        if self.cross_region_inference and base_model_id(model) == model and not model.startswith("global."):
            prefix = inference_profile_prefix(self.region)
            if prefix is not None:
                return prefix + model
        return model

    # -- signing --------------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        body: Optional[bytes],
        *,
        accept: str,
        extra: Optional[Mapping[str, str]] = None,
        dialect: Optional[str] = None,
        model: Optional[str] = None,
        stream_options: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> HttpCall:
        headers = merge_headers({"Accept": accept}, self.extra_headers, extra)
        if body is not None:
            headers = merge_headers({"Content-Type": "application/json"}, headers)
        token = self.api_key
        if token:
            headers = merge_headers(headers, {"Authorization": f"Bearer {token}"})
        else:
            creds = self._aws_credentials()
            signed = sign_request(
                method,
                url,
                headers,
                body or b"",
                region=self.region,
                service="bedrock",
                access_key=creds.access_key,
                secret_key=creds.secret_key,
                session_token=creds.session_token,
            )
            headers = merge_headers(headers, signed)
        return HttpCall(
            method=method,
            url=url,
            headers=headers,
            content=body,
            dialect=dialect,
            model=model,
            stream_options=dict(stream_options or {}),
            timeout=timeout,
        )

    # -- requests ---------------------------------------------------------------------

    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        model_id = self.resolve_model_id(request.model)
        use_invoke = bool(request.options.get("invoke_model", self.invoke_model))
        path = f"{self.base_url}/model/{quote(model_id, safe='')}"
        if use_invoke:
            family = _family(model_id)
            if family is None:
                raise ConfigurationError(
                    f"bedrock: InvokeModel payloads exist for Claude, Titan and Llama, not {model_id!r}"
                )
            document = self.invoke_body(request, family)
            op = "invoke-with-response-stream" if stream else "invoke"
            options = {"invoke_model": family}
        else:
            document = self.converse_body(request, model_id)
            op = "converse-stream" if stream else "converse"
            options = {}
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return self._call(
            "POST",
            f"{path}/{op}",
            body,
            accept=_EVENT_STREAM if stream else "application/json",
            extra=request.extra_headers,
            dialect="bedrock" if stream else None,
            model=request.model,
            stream_options=options if stream else None,
            timeout=request.timeout,
        )

    def converse_body(self, request: ChatRequest, model_id: str) -> dict[str, Any]:
        """The Converse / ConverseStream request body."""
        cache = self.prompt_cache and _supports_cache(model_id)
        system: list[dict[str, Any]] = []
        if request.system:
            system.append({"text": request.system})
        for message in request.messages:
            if message.role == "system":
                text = _text_of(message)
                if text:
                    system.append({"text": text})
        if cache and system:
            system.append({"cachePoint": {"type": "default"}})
        messages = converse_messages(request.messages)
        if cache:
            marked = 0
            for message in reversed(messages):
                if message["role"] == "user" and marked < 2:
                    message["content"].append({"cachePoint": {"type": "default"}})
                    marked += 1
        thinking = request.thinking_budget is not None and _family(model_id) == "anthropic"
        config: dict[str, Any] = {}
        if request.max_tokens is not None:
            config["maxTokens"] = request.max_tokens
        if thinking:
            config["temperature"] = 1.0
        else:
            config["temperature"] = request.temperature if request.temperature is not None else _DEFAULT_TEMPERATURE
        if request.top_p is not None and not thinking:
            config["topP"] = request.top_p
        if request.stop:
            config["stopSequences"] = list(request.stop)
        body: dict[str, Any] = {"messages": messages}
        if system:
            body["system"] = system
        body["inferenceConfig"] = config
        if request.tools:
            tool_config: dict[str, Any] = {
                "tools": [
                    {
                        "toolSpec": {
                            "name": tool.name,
                            "description": tool.description or tool.name,
                            "inputSchema": {"json": dict(tool.parameters)},
                        }
                    }
                    for tool in request.tools
                ]
            }
            choice = _tool_choice(request.tool_choice)
            if choice is not None:
                tool_config["toolChoice"] = choice
            body["toolConfig"] = tool_config
        extra: dict[str, Any] = {}
        if thinking:
            extra["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
        if self.context_1m and base_model_id(model_id.rsplit("/", 1)[-1]) in _CONTEXT_1M_MODELS:
            extra["anthropic_beta"] = [_CONTEXT_1M_BETA]
        if extra:
            body["additionalModelRequestFields"] = extra
        body.update(request.extra_body)
        return body

    def invoke_body(self, request: ChatRequest, family: str) -> dict[str, Any]:
        """The InvokeModel body of a model family (``anthropic``, ``titan``, ``llama``)."""
        if family == "anthropic":
            from tokenwire.providers.anthropic import convert_messages, convert_tool, convert_tool_choice

            body: dict[str, Any] = {
                "anthropic_version": _ANTHROPIC_VERSION,
                "max_tokens": request.max_tokens or 8192,
                "messages": convert_messages([m for m in request.messages if m.role != "system"]),
            }
            system = _system_text(request)
            if system:
                body["system"] = system
            if request.thinking_budget is not None:
                body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
            elif request.temperature is not None:
                body["temperature"] = request.temperature
            if request.top_p is not None and request.thinking_budget is None:
                body["top_p"] = request.top_p
            if request.stop:
                body["stop_sequences"] = list(request.stop)
            if request.tools:
                body["tools"] = [convert_tool(t) for t in request.tools]
                choice = convert_tool_choice(request.tool_choice)
                if choice is not None:
                    body["tool_choice"] = choice
        elif family == "titan":
            turns = [
                f"{'User' if m.role != 'assistant' else 'Bot'}: {_text_of(m)}"
                for m in request.messages
                if m.role != "system"
            ]
            system = _system_text(request)
            prompt = "\n".join(([system] if system else []) + turns) + "\nBot:"
            config: dict[str, Any] = {"maxTokenCount": request.max_tokens or 4096}
            if request.temperature is not None:
                config["temperature"] = request.temperature
            if request.top_p is not None:
                config["topP"] = request.top_p
            if request.stop:
                config["stopSequences"] = list(request.stop)
            body = {"inputText": prompt, "textGenerationConfig": config}
        else:
            parts = ["<|begin_of_text|>"]
            system = _system_text(request)
            if system:
                parts.append(f"<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>")
            for m in request.messages:
                if m.role != "system":
                    role = "assistant" if m.role == "assistant" else "user"
                    parts.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{_text_of(m)}<|eot_id|>")
            parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
            body = {"prompt": "".join(parts), "max_gen_len": request.max_tokens or 2048}
            if request.temperature is not None:
                body["temperature"] = request.temperature
            if request.top_p is not None:
                body["top_p"] = request.top_p
        body.update(request.extra_body)
        return body

    # -- responses ---------------------------------------------------------------------

    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        if not isinstance(data, Mapping):
            raise ProviderError(
                f"bedrock: unexpected response body {type(data).__name__}",
                provider=self.name,
                model=model,
                request_id=request_id,
            )
        body: Mapping[str, Any] = data  # pyright: ignore[reportUnknownVariableType]
        if "output" in body:
            return _parse_converse(body, model=model, provider=self.name, request_id=request_id)
        if body.get("type") == "message":
            from tokenwire.providers.anthropic import AnthropicProvider

            parsed = AnthropicProvider(api_key="-").parse_chat_response(body, model=model, request_id=request_id)
            return dataclasses.replace(parsed, provider=self.name)
        if "results" in body:
            results = body.get("results") or [{}]
            first = results[0] if isinstance(results, list) and results and isinstance(results[0], Mapping) else {}
            usage = Usage(
                input_tokens=_int(body.get("inputTextTokenCount")), output_tokens=_int(first.get("tokenCount"))
            )
            return ChatResponse(
                text=str(first.get("outputText") or ""),
                model=model,
                provider=self.name,
                usage=usage,
                finish_reason=first.get("completionReason"),
                request_id=request_id,
            )
        if "generation" in body:
            usage = Usage(
                input_tokens=_int(body.get("prompt_token_count")),
                output_tokens=_int(body.get("generation_token_count")),
            )
            return ChatResponse(
                text=str(body.get("generation") or ""),
                model=model,
                provider=self.name,
                usage=usage,
                finish_reason=body.get("stop_reason"),
                request_id=request_id,
            )
        raise ProviderError(
            "bedrock: unrecognized response body", provider=self.name, model=model, request_id=request_id
        )

    def build_models_call(self) -> Optional[HttpCall]:
        return self._call("GET", f"{self.control_plane_url}/foundation-models", None, accept="application/json")

    def parse_models(self, data: Any) -> list[ModelInfo]:
        summaries = data.get("modelSummaries") if isinstance(data, Mapping) else None
        out: list[ModelInfo] = []
        for item in summaries if isinstance(summaries, list) else []:  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(item, Mapping) or not isinstance(item.get("modelId"), str):
                continue
            modalities = item.get("inputModalities")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            out.append(
                ModelInfo(
                    id=str(item["modelId"]),  # pyright: ignore[reportUnknownArgumentType]
                    provider=self.name,
                    display_name=item.get("modelName") if isinstance(item.get("modelName"), str) else None,  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    supports_images=isinstance(modalities, list) and "IMAGE" in modalities,
                    supports_prompt_cache=_supports_cache(str(item["modelId"])),  # pyright: ignore[reportUnknownArgumentType]
                )
            )
        return out


# ---------------------------------------------------------------------------
# Converse mapping
# ---------------------------------------------------------------------------


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text_of(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content
    return "".join(p.text for p in message.content if isinstance(p, TextPart))


def _system_text(request: ChatRequest) -> str:
    parts = [request.system] if request.system else []
    parts += [_text_of(m) for m in request.messages if m.role == "system" and _text_of(m)]
    return "\n\n".join(parts)


def _image_block(part: ImagePart) -> dict[str, Any]:
    if part.data is None:
        raise ConfigurationError("bedrock: images must be inline base64 data (Bedrock cannot fetch image URLs)")
    fmt = part.media_type.split("/", 1)[-1].lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in _IMAGE_FORMATS:
        raise ConfigurationError(f"bedrock: unsupported image format {part.media_type!r}")
    return {"image": {"format": fmt, "source": {"bytes": part.data}}}


def _content_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if isinstance(message.content, str):
        if message.content:
            blocks.append({"text": message.content})
    else:
        for part in message.content:
            blocks.append({"text": part.text} if isinstance(part, TextPart) else _image_block(part))
    return blocks


def _tool_input(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        return {}


def converse_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Converse ``messages``: tool results become user ``toolResult`` blocks and
    consecutive same-role messages are merged (Bedrock requires alternating roles)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            role = "user"
            result = {"text": _text_of(message) or "(empty)"}
            blocks: list[dict[str, Any]] = [
                {
                    "toolResult": {
                        "toolUseId": message.tool_call_id or "",
                        "content": [result],
                        "status": "error" if message.is_error else "success",
                    }
                }
            ]
        else:
            role = message.role
            blocks = _content_blocks(message)
            for call in message.tool_calls:
                blocks.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": _tool_input(call)}})
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _tool_choice(choice: Any) -> Optional[dict[str, Any]]:
    if choice is None or choice == "none":
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice in ("required", "any"):
        return {"any": {}}
    if isinstance(choice, str):
        return {"tool": {"name": choice}}
    if isinstance(choice, Mapping):
        function = choice.get("function")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        name = function.get("name") if isinstance(function, Mapping) else choice.get("name")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(name, str):
            return {"tool": {"name": name}}
    return None


def _parse_converse(body: Mapping[str, Any], *, model: str, provider: str, request_id: Optional[str]) -> ChatResponse:
    output = body.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    content = message.get("content") if isinstance(message, Mapping) else None
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for block in content if isinstance(content, list) else []:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            text.append(block["text"])
        rc = block.get("reasoningContent")
        if isinstance(rc, Mapping) and isinstance(rc.get("reasoningText"), Mapping):
            rt = rc["reasoningText"]
            if isinstance(rt.get("text"), str):
                reasoning.append(rt["text"])
        tool = block.get("toolUse")
        if isinstance(tool, Mapping):
            calls.append(
                ToolCall(
                    id=str(tool.get("toolUseId") or ""),
                    name=str(tool.get("name") or ""),
                    arguments=json.dumps(tool.get("input", {}), separators=(",", ":"), ensure_ascii=False),
                )
            )
    raw = body.get("usage")
    usage = None
    if isinstance(raw, Mapping):
        usage = Usage(
            input_tokens=_int(raw.get("inputTokens")),
            output_tokens=_int(raw.get("outputTokens")),
            cache_read_tokens=_int(raw.get("cacheReadInputTokens")),
            cache_write_tokens=_int(raw.get("cacheWriteInputTokens")),
        )
    reason = body.get("stopReason")
    return ChatResponse(
        text="".join(text),
        model=model,
        provider=provider,
        reasoning="".join(reasoning),
        tool_calls=tuple(calls),
        usage=usage,
        finish_reason=reason if isinstance(reason, str) else None,
        request_id=request_id,
    )
