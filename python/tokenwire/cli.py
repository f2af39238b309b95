"""The ``tokenwire`` command line.

Commands: ``demo`` (the main job end to end on loopback OpenAI and Anthropic servers,
no keys, no network — see :mod:`tokenwire._demo`), ``chat`` (one streamed answer from a
live provider), ``providers`` (the registry with capabilities and credential status),
``models`` (a provider's models with context window and prices: the live list merged
with :mod:`tokenwire.catalog`, or the catalog alone without a key or a list endpoint)
``cost`` (a request priced from the catalog, as Roo-Code prices it) and ``bench``
(manager overhead, concurrent streams and memory — see :mod:`tokenwire._bench`).
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
    header = f"{'provider':<18} {'stream':>6} {'tools':>5} {'images':>6} {'reason':>6} {'cache':>5}  credentials"
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
        out.write(f"{name:<18} {marks[0]:>6} {marks[1]:>5} {marks[2]:>6} {marks[3]:>6} {marks[4]:>5}  {creds}\n")
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


def _num(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:g}"


def _tier_label(model: Any) -> str:
    labels: list[str] = []
    for tier in model.tiers:
        if tier.name:
            labels.append(tier.name)
        elif "long-context" not in labels:
            labels.append("long-context")
    return ",".join(labels)


def _write_models(out: TextIO, infos: Sequence[Any], catalog_name: str) -> None:
    from tokenwire import catalog

    out.write(
        f"{'model':<48} {'context':>9} {'max out':>8} {'$/M in':>8} {'$/M out':>8} "
        f"{'cache rd':>8} {'cache wr':>8}  tiers\n"
    )
    for m in sorted(infos, key=lambda m: m.id):
        known = catalog.entry(catalog_name, m.id)
        tiers = _tier_label(known) if known is not None else ""
        out.write(
            f"{m.id:<48} {_num(m.context_window):>9} {_num(m.max_output_tokens):>8} "
            f"{_num(m.input_price):>8} {_num(m.output_price):>8} "
            f"{_num(m.cache_read_price):>8} {_num(m.cache_write_price):>8}  {tiers}".rstrip()
            + "\n"
        )


def _catalog_source(name: str) -> str:
    from tokenwire import catalog

    found = catalog.provider_catalog(name)
    if found is None or found.source is None:
        return "tokenwire's catalog"
    return f"tokenwire's catalog (Roo-Code {found.source} @ {found.commit[:10]})"


def _write_catalog_models(name: str, reason: str, out: TextIO, err: TextIO) -> int:
    from tokenwire import catalog

    found = catalog.provider_catalog(name)
    if found is None:
        err.write(f"tokenwire: {reason}, and {name!r} is not in the catalog\n")
        return 2
    infos = catalog.models(name)
    if not infos:
        note = f" ({found.note})" if found.note else ""
        err.write(f"tokenwire: {reason}; the catalog has no models for {name!r}{note}\n")
        return 2
    kind = "Roo-Code's default model only; the full list is fetched live" if found.dynamic else "static table"
    err.write(f"tokenwire: {reason}; models from {_catalog_source(name)}, {kind}\n")
    _write_models(out, infos, name)
    return 0


async def _models(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from tokenwire import catalog
    from tokenwire.errors import TokenwireError
    from tokenwire.registry import ProviderRegistry

    name: str = args.provider
    registry = ProviderRegistry.default()
    if name not in registry:
        if catalog.provider_catalog(name) is not None:
            return _write_catalog_models(name, f"{name!r} is not a registered provider", out, err)
        known = ", ".join(registry.names())
        err.write(f"tokenwire: unknown provider {name!r}; registered providers: {known}\n")
        return 2
    provider = registry.create(name)
    key = catalog.catalog_key(provider)
    if args.catalog:
        return _write_catalog_models(key, "--catalog given", out, err)
    if not provider.capabilities.list_models:
        return _write_catalog_models(key, f"{name} has no model-list endpoint", out, err)
    if not provider.has_credentials():
        hint = f" (set {' or '.join(provider.api_key_env)} for the live list)" if provider.api_key_env else ""
        return _write_catalog_models(key, f"no credentials for {name!r}{hint}", out, err)
    async with provider:
        try:
            infos = await catalog.list_models(provider, refresh=True)
        except TokenwireError as exc:
            err.write(f"tokenwire: {type(exc).__name__}: {exc}\n(use --catalog for the catalog's models)\n")
            return 1
    err.write(f"tokenwire: live model list from {provider.base_url}, gaps filled from {_catalog_source(key)}\n")
    _write_models(out, infos, key)
    return 0


def _prompt_tokens(model: str, prompt: str, system: Optional[str]) -> int:
    from tokenwire.tokens import estimate_input_tokens
    from tokenwire.types import ChatRequest, Message

    request = ChatRequest(model=model, messages=(Message("user", prompt),), system=system)
    return estimate_input_tokens(request)


def _cost(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from tokenwire import catalog
    from tokenwire.types import Usage

    provider_name, _, model = args.model.partition("/")
    if not provider_name or not model:
        err.write("tokenwire: give the model as provider/model, e.g. anthropic/claude-sonnet-4-5\n")
        return 2
    known = catalog.entry(provider_name, model)
    if known is None:
        hint = f"; see `tokenwire models {provider_name} --catalog`" if catalog.provider_catalog(provider_name) else ""
        err.write(f"tokenwire: {provider_name}/{model} is not in the catalog{hint}\n")
        return 2
    if args.prompt is not None and args.input is not None:
        err.write("tokenwire: give a prompt or --input, not both\n")
        return 2
    notes: list[str] = []
    if args.prompt is not None:
        prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
        input_tokens = _prompt_tokens(model, prompt, args.system)
        notes.append("input estimated locally (o200k_base tokens x 1.5, as Roo-Code)")
    else:
        input_tokens = args.input or 0
    if args.output is not None:
        output_tokens = args.output
    else:
        output_tokens = known.info.max_output_tokens or 0
        notes.append(
            f"output = the model's max output ({output_tokens} tokens): an upper bound; set --output"
            if output_tokens
            else "no --output and no known max output: output counted as 0"
        )
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=args.cache_read,
        cache_write_tokens=args.cache_write,
    )
    breakdown = catalog.cost_breakdown(
        usage,
        provider_name,
        model,
        service_tier=args.service_tier,
        context_1m=args.context_1m,
        convention=args.convention,
    )
    if breakdown is None:
        err.write(f"tokenwire: the catalog has no prices for {provider_name}/{model}\n")
        return 2
    rule = catalog.pricing_rule(provider_name, model)
    if breakdown.reported:
        notes.append(f"{breakdown.provider} reports its own cost, which Roo-Code shows; this is an estimate")
    ignored = [
        label
        for label, given, priced in (
            ("cache reads", args.cache_read, breakdown.cache_read_tokens),
            ("cache writes", args.cache_write, breakdown.cache_write_tokens),
        )
        if given and not priced
    ]
    if ignored:
        notes.append(f"{' and '.join(ignored)} not priced: Roo-Code does not count them for {breakdown.provider}")
    if args.json:
        data = {
            "provider": breakdown.provider,
            "model": breakdown.model,
            "convention": breakdown.convention,
            "reported_by_provider": breakdown.reported,
            "tier": breakdown.tier,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_read_tokens": args.cache_read,
                "cache_write_tokens": args.cache_write,
            },
            "lines": {
                part: {
                    "tokens": getattr(breakdown, f"{part}_tokens"),
                    "price_per_million": getattr(breakdown, f"{part}_price"),
                    "usd": getattr(breakdown, f"{part}_cost"),
                }
                for part in ("input", "cache_write", "cache_read", "output")
            },
            "total_usd": breakdown.total,
            "notes": notes,
        }
        out.write(json.dumps(data, indent=2) + "\n")
        return 0
    meaning = {
        "anthropic": "input excludes cache tokens",
        "openai": "input includes cache tokens, priced separately",
        "gemini": "context-size tiers; input includes cache reads",
        "input-output": "cache counts not used",
        "free": "always free",
    }[breakdown.convention]
    out.write(f"{breakdown.provider}/{breakdown.model}\n")
    out.write(f"convention: {breakdown.convention} ({meaning}); Roo-Code: {rule.source}\n")
    if breakdown.tier:
        out.write(f"tier: {breakdown.tier}\n")
    out.write(f"{'':<12} {'tokens':>12} {'$/M':>9} {'USD':>12}\n")
    for label, part in (
        ("input", "input"),
        ("cache write", "cache_write"),
        ("cache read", "cache_read"),
        ("output", "output"),
    ):
        tokens = getattr(breakdown, f"{part}_tokens")
        price = getattr(breakdown, f"{part}_price")
        usd = getattr(breakdown, f"{part}_cost")
        out.write(f"{label:<12} {tokens:>12,} {price:>9g} {usd:>12.6f}\n")
    out.write(f"{'total':<12} {'':>12} {'':>9} {breakdown.total:>12.6f}\n")
    for note in notes:
        out.write(f"note: {note}\n")
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
    from tokenwire._bench import add_arguments as bench_arguments

    bench_arguments(
        sub.add_parser("bench", help="manager overhead, concurrent streams and memory on a loopback server")
    )
    models = sub.add_parser(
        "models",
        help="list a provider's models with context window and prices (live list, or the catalog without a key)",
    )
    models.add_argument("provider")
    models.add_argument("--catalog", action="store_true", help="list the catalog's models, not the live list")
    cost = sub.add_parser(
        "cost",
        help="estimate the cost of a request from catalog prices",
        description=(
            "Price a request as Roo-Code does. Give the input either as token counts (--input) or as a prompt "
            "(estimated locally; '-' reads stdin). Output defaults to the model's max output (an upper bound)."
        ),
    )
    cost.add_argument("model", help="provider/model, e.g. anthropic/claude-sonnet-4-5")
    cost.add_argument("prompt", nargs="?", help="prompt text whose input tokens are estimated ('-': stdin)")
    cost.add_argument("--system", help="system prompt (with a prompt: counted as input)")
    cost.add_argument("--input", type=_tokens, help="input tokens (as the provider reports them)")
    cost.add_argument("--output", type=_tokens, help="output tokens (default: the model's max output)")
    cost.add_argument("--cache-read", type=_tokens, default=0, dest="cache_read", help="cache-read tokens")
    cost.add_argument("--cache-write", type=_tokens, default=0, dest="cache_write", help="cache-write tokens")
    cost.add_argument("--service-tier", dest="service_tier", help="OpenAI service tier: flex or priority")
    cost.add_argument("--context-1m", action="store_true", dest="context_1m", help="Anthropic 1M-context beta prices")
    cost.add_argument(
        "--convention",
        choices=["anthropic", "openai", "gemini", "input-output", "free"],
        help="override the provider's cost convention",
    )
    cost.add_argument("--json", action="store_true", help="print the breakdown as JSON")
    return parser


def _tokens(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a token count: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("token counts are >= 0")
    return value


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
    if args.command == "cost":
        return _cost(args, sys.stdout, sys.stderr)
    if args.command == "bench":
        from tokenwire._bench import run_from_args

        return run_from_args(args, sys.stdout)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects unknown commands first
