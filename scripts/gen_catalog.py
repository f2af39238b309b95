#!/usr/bin/env python3
"""Regenerate ``python/tokenwire/catalog/models.json`` from Roo-Code's model tables.

Roo-Code (the behaviour reference) keeps one TypeScript module per provider under
``packages/types/src/providers/`` whose exported ``const`` object literals hold the
facts tokenwire's catalog needs: context window, max output, feature flags and prices
per million tokens (with long-context and service tiers). This script reads those
modules from a local bare mirror of the repository at a fixed commit, evaluates the
small, regular subset of TypeScript they use (object and array literals, strings,
numbers with ``_`` separators, ``Infinity``, spreads, references to other exported
constants including imported ones, member access, ``as const`` / ``satisfies`` /
type annotations), and writes the numbers — only the numbers and flags, no prose — as
compact JSON.

The generated file is committed; the mirror exists only on the maintainer's machine,
so nothing at build or test time runs this script. Usage::

    python scripts/gen_catalog.py [--mirror PATH] [--check]

``--check`` exits 1 when the committed file differs from a fresh generation.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "python" / "tokenwire" / "catalog" / "models.json"
DEFAULT_MIRROR = Path("/work/.mirror/RooCodeInc+Roo-Code/repo")
REPOSITORY = "RooCodeInc/Roo-Code"
COMMIT = "9bcd9918af57b96a2d4ea075bbcf34988509183b"
# gemini-cli left Roo before COMMIT; its table is read at the parent of its removal (d64e677f88).
GEMINI_CLI_COMMIT = "f763a5119b0905d724f67f9277ce380fd282c973"
TYPES_DIR = "packages/types/src/providers"


@dataclass(frozen=True)
class Table:
    """One catalog provider: where its facts live in Roo-Code."""

    provider: str
    module: str
    #: Exported record of model id -> ModelInfo (``None`` for router providers).
    models: Optional[str] = None
    #: Exported default model id (a const name) or ``None``.
    default: Optional[str] = None
    #: Exported ModelInfo of the default model of a router provider (models fetched live).
    default_info: Optional[str] = None
    commit: str = COMMIT
    #: Exported ``Array<[string, string]>`` whose second elements are model-id prefixes
    #: to strip before lookup (Bedrock's cross-region inference profiles).
    strip_prefixes: Optional[str] = None


TABLES: tuple[Table, ...] = (
    Table("anthropic", "anthropic", "anthropicModels", "anthropicDefaultModelId"),
    Table(
        "bedrock",
        "bedrock",
        "bedrockModels",
        "bedrockDefaultModelId",
        strip_prefixes="AWS_INFERENCE_PROFILE_MAPPING",
    ),
    Table("cerebras", "cerebras", "cerebrasModels", "cerebrasDefaultModelId"),
    Table("chutes", "chutes", "chutesModels", "chutesDefaultModelId"),
    Table("claude-code", "claude-code", "claudeCodeModels", "claudeCodeDefaultModelId"),
    Table("deepinfra", "deepinfra", None, "deepInfraDefaultModelId", "deepInfraDefaultModelInfo"),
    Table("deepseek", "deepseek", "deepSeekModels", "deepSeekDefaultModelId"),
    Table("doubao", "doubao", "doubaoModels", "doubaoDefaultModelId"),
    Table("featherless", "featherless", "featherlessModels", "featherlessDefaultModelId"),
    Table("fireworks", "fireworks", "fireworksModels", "fireworksDefaultModelId"),
    Table("gemini", "gemini", "geminiModels", "geminiDefaultModelId"),
    Table("gemini-cli", "gemini-cli", "geminiCliModels", "geminiCliDefaultModelId", commit=GEMINI_CLI_COMMIT),
    Table("glama", "glama", None, "glamaDefaultModelId", "glamaDefaultModelInfo"),
    Table("groq", "groq", "groqModels", "groqDefaultModelId"),
    Table("io-intelligence", "io-intelligence", "ioIntelligenceModels", "ioIntelligenceDefaultModelId"),
    Table("litellm", "lite-llm", None, "litellmDefaultModelId", "litellmDefaultModelInfo"),
    Table("lmstudio", "lm-studio", None, "lMStudioDefaultModelId", "lMStudioDefaultModelInfo"),
    Table("mistral", "mistral", "mistralModels", "mistralDefaultModelId"),
    Table("moonshot", "moonshot", "moonshotModels", "moonshotDefaultModelId"),
    Table("ollama", "ollama", None, "ollamaDefaultModelId", "ollamaDefaultModelInfo"),
    Table("openai", "openai", "openAiNativeModels", "openAiNativeDefaultModelId"),
    Table("openrouter", "openrouter", None, "openRouterDefaultModelId", "openRouterDefaultModelInfo"),
    Table("qwen-code", "qwen-code", "qwenCodeModels", "qwenCodeDefaultModelId"),
    Table("requesty", "requesty", None, "requestyDefaultModelId", "requestyDefaultModelInfo"),
    Table("roo", "roo", "rooModels", "rooDefaultModelId"),
    Table("sambanova", "sambanova", "sambaNovaModels", "sambaNovaDefaultModelId"),
    Table("unbound", "unbound", None, "unboundDefaultModelId", "unboundDefaultModelInfo"),
    Table(
        "vercel-ai-gateway",
        "vercel-ai-gateway",
        None,
        "vercelAiGatewayDefaultModelId",
        "vercelAiGatewayDefaultModelInfo",
    ),
    Table("vertex", "vertex", "vertexModels", "vertexDefaultModelId"),
    Table("xai", "xai", "xaiModels", "xaiDefaultModelId"),
    Table("zai", "zai", "internationalZAiModels", "internationalZAiDefaultModelId"),
    Table("zai-china", "zai", "mainlandZAiModels", "mainlandZAiDefaultModelId"),
)

# Providers tokenwire registers whose models Roo-Code has no table for: the list always
# comes from the provider (or, for Perplexity, Roo has no such provider at all).
DYNAMIC_WITHOUT_TABLE: dict[str, str] = {
    "azure-openai": "deployments are named by the user; Roo's OpenAI-compatible handler takes model info from settings",
    "huggingface": "Roo fetches the router's model list; huggingface.ts holds only request constants",
    "perplexity": "not a Roo-Code provider at the reference commit",
}


# -- a tokenizer and evaluator for the TypeScript subset of the model tables ---------------
class TsError(ValueError):
    """The source uses syntax outside the supported subset."""


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<number>(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<template>`(?:[^`\\]|\\.)*`)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>\.\.\.|=>|[{}\[\]().,:;=?<>|&*/+\-!@\#%^~])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    offset: int


# After these tokens a `/` starts a regular expression literal, not a division.
_REGEX_AFTER = frozenset(["=", "(", ",", ":", "[", "!", "&", "|", "?", "{", "}", ";", "=>", "return"])


def _regex_end(source: str, pos: int) -> int:
    """The offset just past the regular expression literal starting at ``pos``."""
    i = pos + 1
    in_class = False
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "\n":
            break
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "/" and not in_class:
            i += 1
            while i < len(source) and (source[i].isalpha()):
                i += 1
            return i
        i += 1
    raise TsError(f"unterminated regular expression at offset {pos}")


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        if (
            source[pos] == "/"
            and source[pos + 1 : pos + 2] not in ("/", "*")
            and (not tokens or tokens[-1].text in _REGEX_AFTER)
        ):
            end = _regex_end(source, pos)
            tokens.append(Token("regex", source[pos:end], pos))
            pos = end
            continue
        match = _TOKEN.match(source, pos)
        if match is None:
            raise TsError(f"unexpected character {source[pos]!r} at offset {pos}")
        kind = match.lastgroup or ""
        if kind not in ("ws", "line_comment", "block_comment"):
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text.startswith("`") and "${" in body:
        raise TsError("template literal with substitutions")
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and body[i + 2 : i + 3] != "{":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class Module:
    """One TypeScript module: its exported ``const`` declarations, evaluated on demand."""

    def __init__(self, loader: Loader, name: str, source: str) -> None:
        self.loader = loader
        self.name = name
        self.tokens = tokenize(source)
        self.decls: dict[str, int] = {}  # const name -> index of the first token of its initializer
        self.imports: dict[str, tuple[str, str]] = {}  # local name -> (module path, exported name)
        self.values: dict[str, Any] = {}
        self._evaluating: set[str] = set()
        self._scan()

    def _scan(self) -> None:
        toks = self.tokens
        i = 0
        depth = 0
        while i < len(toks):
            tok = toks[i]
            if tok.text in "{[(" and tok.kind == "punct":
                depth += 1
            elif tok.text in "}])" and tok.kind == "punct":
                depth -= 1
            elif depth == 0 and tok.kind == "name" and tok.text == "import":
                i = self._scan_import(i)
                continue
            elif (
                depth == 0
                and tok.kind == "name"
                and tok.text == "const"
                and i + 1 < len(toks)
                and (i == 0 or toks[i - 1].text != "as")  # `as const` is not a declaration
            ):
                name = toks[i + 1].text
                j = i + 2
                # Skip a type annotation up to the `=` at nesting depth 0.
                nest = 0
                while j < len(toks) and not (nest == 0 and toks[j].text == "="):
                    if toks[j].text in ("{", "[", "(", "<"):
                        nest += 1
                    elif toks[j].text in ("}", "]", ")", ">"):
                        nest -= 1
                    j += 1
                self.decls[name] = j + 1
                i = j + 1
                continue
            i += 1

    def _scan_import(self, i: int) -> int:
        toks = self.tokens
        j = i + 1
        if toks[j].text == "type":  # `import type {...}` brings no values
            while toks[j].kind != "string":
                j += 1
            return j + 1
        names: list[tuple[str, str]] = []
        if toks[j].text == "{":
            j += 1
            while toks[j].text != "}":
                if toks[j].text == "type":
                    j += 1
                    while toks[j].text not in (",", "}"):
                        j += 1
                else:
                    exported = toks[j].text
                    local = exported
                    if toks[j + 1].text == "as":
                        local = toks[j + 2].text
                        j += 2
                    names.append((local, exported))
                    j += 1
                if toks[j].text == ",":
                    j += 1
            j += 1
        while toks[j].kind != "string":
            j += 1
        path = _unquote(toks[j].text)
        for local, exported in names:
            self.imports[local] = (path, exported)
        return j + 1

    def value(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.decls:
            if name in self._evaluating:
                raise TsError(f"{self.name}: circular reference to {name}")
            self._evaluating.add(name)
            try:
                parser = _Parser(self, self.decls[name])
                result = parser.expression()
                parser.skip_type_suffix()
            finally:
                self._evaluating.discard(name)
            self.values[name] = result
            return result
        if name in self.imports:
            path, exported = self.imports[name]
            return self.loader.module_for_import(self, path).value(exported)
        raise TsError(f"{self.name}: unknown identifier {name}")


class _Parser:
    """Recursive descent over a module's tokens, evaluating as it goes."""

    def __init__(self, module: Module, index: int) -> None:
        self.module = module
        self.toks = module.tokens
        self.i = index

    def peek(self, ahead: int = 0) -> Token:
        if self.i + ahead >= len(self.toks):
            return Token("eof", "", -1)
        return self.toks[self.i + ahead]

    def take(self, text: Optional[str] = None) -> Token:
        tok = self.peek()
        if text is not None and tok.text != text:
            raise TsError(f"{self.module.name}: expected {text!r} at offset {tok.offset}, found {tok.text!r}")
        self.i += 1
        return tok

    def skip_type_suffix(self) -> None:
        # `as const` and `satisfies T` carry no value.
        while self.peek().text in ("as", "satisfies"):
            self.take()
            self.skip_type()

    def skip_type(self) -> None:
        nest = 0
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                return
            if nest == 0 and (tok.text in (",", ";", "}", "]", ")") or (tok.kind == "name" and tok.text == "export")):
                return
            if tok.text in ("{", "[", "(", "<"):
                nest += 1
            elif tok.text in ("}", "]", ")", ">"):
                nest -= 1
            self.take()
            # A type ends at the end of its line when it is not nested (`} as const\nexport ...`).
            if nest == 0 and self.peek().kind == "name" and self.peek().text in ("export", "const"):
                return

    # expression := additive
    def expression(self) -> Any:
        value = self.additive()
        self.skip_type_suffix()
        return value

    def additive(self) -> Any:
        value = self.multiplicative()
        while self.peek().text in ("+", "-"):
            op = self.take().text
            rhs = self.multiplicative()
            if isinstance(value, str) or isinstance(rhs, str):
                if op != "+":
                    raise TsError("string subtraction")
                value = f"{value}{rhs}"
            else:
                value = value + rhs if op == "+" else value - rhs
        return value

    def multiplicative(self) -> Any:
        value = self.unary()
        while self.peek().text in ("*", "/"):
            op = self.take().text
            rhs = self.unary()
            value = value * rhs if op == "*" else value / rhs
        return value

    def unary(self) -> Any:
        if self.peek().text == "-":
            self.take()
            return -self.unary()
        if self.peek().text == "+":
            self.take()
            return +self.unary()
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while True:
            tok = self.peek()
            if tok.text == "." and self.peek(1).kind == "name":
                self.take()
                key = self.take().text
                value = _member(value, key)
            elif tok.text == "[":
                self.take()
                key = self.expression()
                self.take("]")
                value = _member(value, key)
            elif tok.text == "(":
                raise TsError(f"{self.module.name}: function call at offset {tok.offset}")
            else:
                return value

    def primary(self) -> Any:
        tok = self.take()
        if tok.kind == "number":
            text = tok.text.replace("_", "")
            number = float(text)
            return int(number) if re.fullmatch(r"\d+", text) else number
        if tok.kind in ("string", "template"):
            return _unquote(tok.text)
        if tok.text == "{":
            return self.object_literal()
        if tok.text == "[":
            return self.array_literal()
        if tok.text == "(":
            value = self.expression()
            self.take(")")
            return value
        if tok.kind == "name":
            literals = {"true": True, "false": False, "null": None, "undefined": None, "Infinity": math.inf}
            if tok.text in literals:
                return literals[tok.text]
            return self.module.value(tok.text)
        raise TsError(f"{self.module.name}: unexpected {tok.text!r} at offset {tok.offset}")

    def object_literal(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.peek().text != "}":
            if self.peek().text == "...":
                self.take()
                spread = self.expression()
                if not isinstance(spread, dict):
                    raise TsError(f"{self.module.name}: spread of a non-object")
                out.update(spread)
            else:
                key_tok = self.take()
                if key_tok.kind in ("string", "template"):
                    key = _unquote(key_tok.text)
                elif key_tok.kind in ("name", "number"):
                    key = key_tok.text
                elif key_tok.text == "[":
                    key = str(self.expression())
                    self.take("]")
                else:
                    raise TsError(f"{self.module.name}: bad object key {key_tok.text!r} at {key_tok.offset}")
                if self.peek().text == ":":
                    self.take()
                    out[key] = self.expression()
                else:  # shorthand `{ name }`
                    out[key] = self.module.value(key)
            if self.peek().text == ",":
                self.take()
            elif self.peek().text != "}":
                raise TsError(f"{self.module.name}: expected ',' or '}}' at offset {self.peek().offset}")
        self.take("}")
        return out

    def array_literal(self) -> list[Any]:
        out: list[Any] = []
        while self.peek().text != "]":
            if self.peek().text == "...":
                self.take()
                out.extend(self.expression())
            else:
                out.append(self.expression())
            if self.peek().text == ",":
                self.take()
            elif self.peek().text != "]":
                raise TsError(f"{self.module.name}: expected ',' or ']' at offset {self.peek().offset}")
        self.take("]")
        return out


def _member(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        if key not in value:
            raise TsError(f"no member {key!r}")
        return value[key]
    if isinstance(value, list) and isinstance(key, (int, float)):
        return value[int(key)]
    raise TsError(f"member access {key!r} on {type(value).__name__}")


class Loader:
    """Reads modules of the providers directory from the mirror at one commit."""

    def __init__(self, mirror: Path, commit: str) -> None:
        self.mirror = mirror
        self.commit = commit
        self.modules: dict[str, Module] = {}

    def source(self, path: str) -> str:
        proc = subprocess.run(
            ["git", "-C", str(self.mirror), "show", f"{self.commit}:{path}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"gen_catalog: cannot read {path} at {self.commit}: {proc.stderr.strip()}")
        return proc.stdout

    def module(self, name: str) -> Module:
        if name not in self.modules:
            self.modules[name] = Module(self, name, self.source(f"{TYPES_DIR}/{name}.ts"))
        return self.modules[name]

    def module_for_import(self, importer: Module, path: str) -> Module:
        if not path.startswith("./"):
            raise TsError(f"{importer.name}: import from {path!r} outside the providers directory")
        return self.module(path[2:].removesuffix(".js"))


# -- conversion to catalog facts -------------------------------------------------------------
def _price(value: Any) -> Optional[float]:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TsError(f"price {value!r} is not a number")
    return float(value)


def _int_or_none(value: Any) -> Optional[int]:
    if value is None or value == math.inf:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TsError(f"{value!r} is not a number")
    return int(value)


def _prices(info: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for src, dst in (
        ("inputPrice", "in"),
        ("outputPrice", "out"),
        ("cacheWritesPrice", "cw"),
        ("cacheReadsPrice", "cr"),
    ):
        price = _price(info.get(src))
        if price is not None:
            out[dst] = price
    return out


def convert(info: dict[str, Any]) -> dict[str, Any]:
    """A Roo ModelInfo literal -> the catalog's compact record (facts only, no prose).

    Keys: ``ctx`` context window, ``max`` max output tokens, ``img``/``cache`` flags,
    ``in``/``out``/``cw``/``cr`` prices per million, ``budget`` (reasoning budget
    supported; ``"required"`` when it must be on), ``effort`` (reasoning effort
    supported), ``effort_default``, ``thinking`` (max thinking tokens), ``tiers``.
    """
    out: dict[str, Any] = {}
    ctx = _int_or_none(info.get("contextWindow"))
    if ctx is not None:
        out["ctx"] = ctx
    max_tokens = _int_or_none(info.get("maxTokens"))
    if max_tokens is not None and max_tokens > 0:  # Roo's -1 means "no limit set"
        out["max"] = max_tokens
    if info.get("supportsImages"):
        out["img"] = True
    if info.get("supportsPromptCache"):
        out["cache"] = True
    if info.get("requiredReasoningBudget"):
        out["budget"] = "required"
    elif info.get("supportsReasoningBudget"):
        out["budget"] = True
    if info.get("supportsReasoningEffort"):
        out["effort"] = True
    if isinstance(info.get("reasoningEffort"), str):
        out["effort_default"] = info["reasoningEffort"]
    thinking = _int_or_none(info.get("maxThinkingTokens"))
    if thinking is not None:
        out["thinking"] = thinking
    out.update(_prices(info))
    tiers = info.get("tiers")
    if tiers:
        converted: list[dict[str, Any]] = []
        for tier in tiers:
            entry: dict[str, Any] = {}
            if isinstance(tier.get("name"), str):
                entry["name"] = tier["name"]
            # Infinity (the open-ended last tier) is written as null.
            entry["ctx"] = _int_or_none(tier.get("contextWindow"))
            entry.update(_prices(tier))
            converted.append(entry)
        out["tiers"] = converted
    return out


def generate(mirror: Path) -> dict[str, Any]:
    loaders: dict[str, Loader] = {}
    providers: dict[str, Any] = {}
    for table in TABLES:
        loader = loaders.setdefault(table.commit, Loader(mirror, table.commit))
        module = loader.module(table.module)
        entry: dict[str, Any] = {"source": f"{TYPES_DIR}/{table.module}.ts"}
        if table.commit != COMMIT:
            entry["commit"] = table.commit
        default = module.value(table.default) if table.default else None
        if default is not None:
            entry["default"] = default
        if table.models is not None:
            records = module.value(table.models)
            entry["models"] = {model_id: convert(info) for model_id, info in records.items()}
        else:
            entry["dynamic"] = True
            assert table.default_info is not None and isinstance(default, str)
            entry["models"] = {default: convert(module.value(table.default_info))}
        if table.strip_prefixes:
            entry["strip_prefixes"] = [pair[1] for pair in module.value(table.strip_prefixes)]
        providers[table.provider] = entry
    for name, why in DYNAMIC_WITHOUT_TABLE.items():
        providers[name] = {"dynamic": True, "models": {}, "note": why}
    return {
        "repository": REPOSITORY,
        "commit": COMMIT,
        "units": "prices in USD per million tokens",
        "providers": dict(sorted(providers.items())),
    }


def render(data: dict[str, Any]) -> str:
    """Compact but diff-friendly: one line per model."""
    lines = ["{"]
    head = {k: v for k, v in data.items() if k != "providers"}
    lines.extend(f"{json.dumps(k)}: {json.dumps(v)}," for k, v in head.items())
    lines.append('"providers": {')
    names = list(data["providers"])
    for n, name in enumerate(names):
        entry = data["providers"][name]
        lines.append(f"{json.dumps(name)}: {{")
        fields = [k for k in entry if k != "models"]
        lines.extend(f"{json.dumps(k)}: {json.dumps(entry[k])}," for k in fields)
        models = list(entry["models"].items())
        lines.append('"models": {')
        for m, (model_id, record) in enumerate(models):
            comma = "," if m < len(models) - 1 else ""
            lines.append(f"{json.dumps(model_id)}: {json.dumps(record, separators=(',', ':'))}{comma}")
        lines.append("}")
        lines.append("}" + ("," if n < len(names) - 1 else ""))
    lines.append("}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _iter_counts(data: dict[str, Any]) -> Iterator[str]:
    for name, entry in data["providers"].items():
        kind = "dynamic" if entry.get("dynamic") else "table"
        yield f"  {name:<18} {len(entry['models']):>4} models ({kind})"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="bare git mirror of Roo-Code")
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args(argv)
    data = generate(args.mirror)
    text = render(data)
    json.loads(text)  # the renderer must produce valid JSON
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale; run scripts/gen_catalog.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    total = sum(len(e["models"]) for e in data["providers"].values())
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(data['providers'])} providers, {total} models")
    for line in _iter_counts(data):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
