"""The package surface: ``__all__``, backend selection, and native/pure/stub name parity."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from tests.conftest import NATIVE, PURE, ROOT, require_native

import tokenwire
from tokenwire import _backend

STUB = ROOT / "python" / "tokenwire" / "_native.pyi"
ENV_VARS = ("TOKENWIRE_PURE_PYTHON", "TOKENWIRE_REQUIRE_NATIVE")


def _public_names(module: ModuleType) -> set[str]:
    """Non-underscore attributes, without submodules (the pure package has them)."""
    return {
        name for name, value in vars(module).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }


def _stub_names() -> set[str]:
    """Top-level names the hand-written stub declares for the runtime module."""
    names: set[str] = set()
    for node in ast.parse(STUB.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    # `StreamToken` is a typing-only alias (a Union); it does not exist at runtime.
    names.discard("StreamToken")
    return {n for n in names if not n.startswith("_")}


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with only the given tokenwire env vars set."""
    clean = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# ---------------------------------------------------------------------------
# __all__
# ---------------------------------------------------------------------------


def test_all_is_sorted_unique_and_resolves() -> None:
    assert tokenwire.__all__ == sorted(tokenwire.__all__)
    assert len(set(tokenwire.__all__)) == len(tokenwire.__all__)
    for name in tokenwire.__all__:
        assert hasattr(tokenwire, name), name


def test_all_exports_every_backend_name() -> None:
    assert _public_names(PURE) <= set(tokenwire.__all__)


def test_public_names_are_the_selected_backends_objects() -> None:
    impl = _backend.impl
    for name in _public_names(PURE):
        assert getattr(tokenwire, name) is getattr(impl, name), name


def test_version() -> None:
    assert isinstance(tokenwire.__version__, str)
    assert tokenwire.__version__.count(".") >= 2


# ---------------------------------------------------------------------------
# Native, pure and the stub declare the same names
# ---------------------------------------------------------------------------


def test_pure_all_matches_its_names() -> None:
    assert set(PURE.__all__) == _public_names(PURE)


def test_stub_declares_the_pure_names() -> None:
    assert _stub_names() == _public_names(PURE)


def test_native_and_pure_expose_the_same_names() -> None:
    native = require_native()
    assert _public_names(native) == _public_names(PURE)


def test_native_version_matches_the_package() -> None:
    native = require_native()
    assert native.__version__ == tokenwire.__version__


def test_constants_agree() -> None:
    native = require_native()
    assert native.DEFAULT_MAX_EVENT_BYTES == PURE.DEFAULT_MAX_EVENT_BYTES == 16 * 1024 * 1024
    assert native.DIALECTS == PURE.DIALECTS
    assert isinstance(native.DIALECTS, tuple)


# ---------------------------------------------------------------------------
# Backend selection
# ---------------------------------------------------------------------------


def test_backend_in_this_run() -> None:
    forced = os.environ.get("TOKENWIRE_PURE_PYTHON", "").strip().lower() in {"1", "true", "yes", "on"}
    expected = "python" if forced or NATIVE is None else "native"
    assert tokenwire.backend() == expected
    assert expected == _backend.BACKEND
    assert _backend.impl is (PURE if expected == "python" else NATIVE)


_REPORT = "import tokenwire; print(tokenwire.backend(), tokenwire.TokenBucket.__module__)"


def test_default_is_native_when_built() -> None:
    require_native()
    result = _run(_REPORT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["native", "tokenwire._native"]


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_pure_python_env_forces_the_twin(value: str) -> None:
    result = _run(_REPORT, TOKENWIRE_PURE_PYTHON=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "tokenwire._pure.bucket"]


def test_pure_python_env_off_values_do_not_force() -> None:
    require_native()
    result = _run(_REPORT, TOKENWIRE_PURE_PYTHON="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "native"


# Make `from tokenwire import _native` fail the way a missing or broken build does.
_BREAK_NATIVE = "import sys; sys.modules['tokenwire._native'] = None\n"


def test_missing_native_falls_back_to_the_twin() -> None:
    result = _run(_BREAK_NATIVE + _REPORT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "tokenwire._pure.bucket"]


def test_require_native_makes_a_missing_native_an_import_error() -> None:
    code = _BREAK_NATIVE + textwrap.dedent(
        """
        try:
            import tokenwire
        except ImportError as exc:
            print("ImportError:", exc)
        else:
            print("imported", tokenwire.backend())
        """
    )
    result = _run(code, TOKENWIRE_REQUIRE_NATIVE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ImportError:"), result.stdout
    assert "TOKENWIRE_REQUIRE_NATIVE" in result.stdout
    # With both set, the native module must still import (CI checks the build), but
    # the twin is used.
    result = _run(code, TOKENWIRE_REQUIRE_NATIVE="1", TOKENWIRE_PURE_PYTHON="1")
    assert result.stdout.startswith("ImportError:"), result.stdout


def test_require_native_with_a_working_build() -> None:
    require_native()
    result = _run(_REPORT, TOKENWIRE_REQUIRE_NATIVE="1")
    assert result.stdout.split() == ["native", "tokenwire._native"], result.stderr
    result = _run(_REPORT, TOKENWIRE_REQUIRE_NATIVE="1", TOKENWIRE_PURE_PYTHON="1")
    assert result.stdout.split() == ["python", "tokenwire._pure.bucket"], result.stderr


def test_stub_file_is_shipped_next_to_the_package() -> None:
    package_dir = Path(tokenwire.__file__).parent
    assert (package_dir / "_native.pyi").is_file()
    assert (package_dir / "py.typed").is_file()
