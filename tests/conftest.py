"""Shared test configuration.

- Hypothesis profiles: ``ci`` (derandomized, set by .ci/run) and ``dev``.
- ``SHARED``: the read-only ``../shared`` folder (recorded provider streams, AWS's SigV4
  suite). Tests that need it skip with a reason where it is absent; in CI it is present.
- ``native`` / ``pure``: the two backends' modules, for parity tests. ``native`` is
  ``None`` when the extension is not built (parity tests skip; with
  ``TOKENWIRE_REQUIRE_NATIVE=1`` that is an import error instead).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Optional

import pytest
from hypothesis import HealthCheck, settings

import tokenwire
from tokenwire import _pure

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TOKENWIRE_SHARED_DIR", ROOT.parent / "shared"))
RECORDED = SHARED / "fixtures" / "recorded"
FIXTURES = ROOT / "fixtures"

try:
    from tokenwire import _native as _native_mod

    NATIVE: Optional[ModuleType] = _native_mod
except ImportError:  # pragma: no cover - CI requires the native module
    if os.environ.get("TOKENWIRE_REQUIRE_NATIVE") == "1":
        raise
    NATIVE = None

PURE: ModuleType = _pure
# The backend the public API uses in this run.
BACKEND: str = tokenwire.backend()


def require_recorded() -> Path:
    """The recorded-streams folder, or skip the calling test with a reason."""
    if not RECORDED.is_dir():
        pytest.skip(f"recorded provider streams not found at {RECORDED} (../shared is absent)")
    return RECORDED


def require_native() -> ModuleType:
    """The native module, or skip the calling test with a reason."""
    if NATIVE is None:
        pytest.skip("tokenwire._native is not built; parity with the pure twin cannot be checked")
    return NATIVE


def parity_only_in_native_run() -> None:
    """Parity tests compare both backends directly; run them once (in the native run)."""
    if BACKEND != "native":
        pytest.skip("native-vs-pure parity is checked in the native run")
