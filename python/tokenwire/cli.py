"""The ``tokenwire`` command line.

Commands: ``demo`` (the main job end to end on loopback OpenAI and Anthropic servers,
no keys, no network — see :mod:`tokenwire._demo`), ``chat`` (one streamed answer from a
live provider), ``providers`` (the registry with capabilities and credential status)
and ``models`` (a provider's model list).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, Optional, TextIO

import anyio

import tokenwire

__all__ = ["main"]


class _Style:
    """ANSI styling, only when writing to a terminal (and NO_COLOR is unset)."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty() and "NO_COLOR" not in os.environ

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def _providers(out: TextIO) -> int:
    from tokenwire.registry import ProviderRegistry

    registry = ProviderRegistry.default()
    header = f"{'provider':<16} {'stream':>6} {'tools':>5} {'images':>6} {'reason':>6} {'cache':>5}  credentials"
    out.write(header + "\n")
    for name in registry.names():
        provider = registry.create(name)
        caps = provider.capabilities
        if not provider.requires_api_key:
            creds = "not needed"
        elif provider.has_credentials():
            creds = "found"
        else:
            creds = "missing" + (f" (set {' or '.join(provider.api_key_env)})" if provider.api_key_env else "")
        flags = [caps.streaming, caps.tools, caps.images, caps.reasoning, caps.prompt_cache]
        marks = ["yes" if f else "-" for f in flags]
        out.write(f"{name:<16} {marks[0]:>6} {marks[1]:>5} {marks[2]:>6} {marks[3]:>6} {marks[4]:>5}  {creds}\n")
    return 0


def _no_credentials(provider: Any, err: TextIO) -> int:
    env = " or ".join(provider.api_key_env) or "the provider's API key option"
    err.write(f"tokenwire: no API key for {provider.name!r}; set {env} to use the live provider\n")
    return 2


async def _chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from tokenwire.client import AsyncClient, split_model
    from tokenwire.errors import TokenwireError

    name, _ = split_model(args.model)
    async with AsyncClient() as client:
        provider = client.provider(name)
        if not provider.has_credentials():
            return _no_credentials(provider, err)
        style = _Style(out)
        params: dict[str, Any] = {}
        if args.system:
            params["system"] = args.system
        if args.max_tokens is not None:
            params["max_tokens"] = args.max_tokens
        if args.temperature is not None:
            params["temperature"] = args.temperature
        try:
            async with client.chat_stream(args.model, [{"role": "user", "content": args.prompt}], **params) as stream:
                async for token in stream:
                    if isinstance(token, tokenwire.TextDelta):
                        out.write(token.text)
                    elif isinstance(token, tokenwire.ReasoningDelta):
                        out.write(style(token.text, "2;3"))
                    out.flush()
                answer = await stream.get_final_response()
        except TokenwireError as exc:
            err.write(f"\ntokenwire: {type(exc).__name__}: {exc}\n")
            return 1
    out.write("\n")
    for call in answer.tool_calls:
        out.write(f"[tool call] {call.name}({call.arguments})\n")
    if answer.usage is not None:
        u = answer.usage
        err.write(f"[usage] input={u.input_tokens} output={u.output_tokens} cache_read={u.cache_read_tokens}\n")
    return 0


async def _models(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from tokenwire.client import AsyncClient
    from tokenwire.errors import TokenwireError

    async with AsyncClient() as client:
        provider = client.provider(args.provider)
        if not provider.has_credentials():
            return _no_credentials(provider, err)
        try:
            models = await client.list_models(args.provider)
        except TokenwireError as exc:
            err.write(f"tokenwire: {type(exc).__name__}: {exc}\n")
            return 1
    out.write(f"{'model':<48} {'context':>9} {'max out':>8} {'$/M in':>8} {'$/M out':>8}\n")
    for m in sorted(models, key=lambda m: m.id):

        def num(v: Optional[float]) -> str:
            return "-" if v is None else f"{v:g}"

        out.write(
            f"{m.id:<48} {num(m.context_window):>9} {num(m.max_output_tokens):>8} "
            f"{num(m.input_price):>8} {num(m.output_price):>8}\n"
        )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenwire", description="tokenwire: one fast client for every LLM provider")
    parser.add_argument("--version", action="version", version=f"tokenwire {tokenwire.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the whole path on loopback OpenAI/Anthropic servers (no network, no keys)")
    demo.add_argument(
        "--delay", type=float, default=0.002, help="seconds between the servers' 48-byte writes (default 0.002)"
    )
    chat = sub.add_parser("chat", help="stream one answer from a live provider (needs its API key)")
    chat.add_argument("model", help="provider/model, e.g. openai/gpt-4o-mini")
    chat.add_argument("prompt", help="the user message")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--max-tokens", type=int, dest="max_tokens")
    chat.add_argument("--temperature", type=float)
    sub.add_parser("providers", help="list registered providers, their capabilities and credential status")
    models = sub.add_parser("models", help="list a provider's models (needs its API key)")
    models.add_argument("provider")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``tokenwire`` console script and ``python -m tokenwire``."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        if args.delay < 0:
            raise SystemExit("--delay must be >= 0")
        from tokenwire._demo import main as demo_main

        return demo_main(sys.stdout, drip_delay=args.delay)
    if args.command == "providers":
        return _providers(sys.stdout)
    if args.command == "chat":
        return anyio.run(_chat, args, sys.stdout, sys.stderr)
    if args.command == "models":
        return anyio.run(_models, args, sys.stdout, sys.stderr)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects unknown commands first
