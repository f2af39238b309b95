"""Backend selection: the native extension, or its pure-Python twin.

- ``TOKENWIRE_PURE_PYTHON=1`` forces the pure-Python twin.
- ``TOKENWIRE_REQUIRE_NATIVE=1`` (set in CI) makes a missing or broken native module
  an ImportError instead of a silent fallback; with both set, the native module must
  still import, but the pure twin is used.
- Otherwise the native module is used when it imports, else the twin.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["BACKEND", "impl"]


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _load() -> tuple[str, ModuleType]:
    force_pure = _truthy("TOKENWIRE_PURE_PYTHON")
    require_native = _truthy("TOKENWIRE_REQUIRE_NATIVE")
    native: ModuleType | None = None
    try:
        from tokenwire import _native

        native = _native
    except ImportError as exc:
        if require_native:
            raise ImportError(
                "TOKENWIRE_REQUIRE_NATIVE=1 but tokenwire._native could not be imported "
                f"({exc}); build it with `make build-prod` or `maturin develop --release`"
            ) from exc
    if native is not None and not force_pure:
        return "native", native
    from tokenwire import _pure

    return "python", _pure


BACKEND, impl = _load()
