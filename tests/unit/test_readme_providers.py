"""README.md's provider table is generated from the registry and the catalog: it cannot drift."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "gen_readme_providers.py"
    spec = importlib.util.spec_from_file_location("gen_readme_providers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_readme_providers", module)
    spec.loader.exec_module(module)
    return module


def test_readme_provider_table_is_current() -> None:
    gen = _generator()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(gen.START) == 1 and readme.count(gen.END) == 1
    assert gen.current_block(readme) == gen.render(), (
        "README.md's provider table is stale: run `python scripts/gen_readme_providers.py`"
    )
    # Rewriting an up-to-date README changes nothing.
    assert gen.rewrite(readme, gen.render()) == readme


def test_table_has_one_row_per_registered_provider() -> None:
    from tokenwire.registry import ProviderRegistry

    gen = _generator()
    rows = [line for line in gen.render().splitlines() if line.startswith("| `")]
    names = [row.split("`")[1] for row in rows]
    assert names == ProviderRegistry.default().names()
    anthropic = next(row for row in rows if row.startswith("| `anthropic`"))
    assert (
        "`ANTHROPIC_API_KEY`" in anthropic
        and "| 10 |" in anthropic
        and f"| 0.25{gen.DASH}15 | 1.25{gen.DASH}75 |" in anthropic
    )


def test_rewrite_replaces_only_the_block() -> None:
    gen = _generator()
    text = f"intro\n{gen.START}\nold\n{gen.END}\noutro\n"
    assert gen.rewrite(text, "new") == f"intro\n{gen.START}\nnew\n{gen.END}\noutro\n"
