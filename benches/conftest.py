"""Collection and reporting for the benchmarks.

The benchmark files are named ``bench_*.py`` so that ``make test`` (``testpaths =
["tests"]``) never runs them; pytest's default ``python_files`` would not collect them
from ``pytest benches`` either, so this conftest does. A file passed explicitly on the
command line is collected by pytest itself, and not a second time here.

Benchmarks that compute their own statistics (ratios from one interleaved run) add
lines to the end-of-run summary through the ``bench_report`` fixture, so the tables
appear with or without ``-s``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import pytest

_REPORT = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT] = []


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Module]:
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    if parent.session.isinitpath(file_path):
        return None  # named on the command line: pytest's own collector takes it
    patterns: list[str] = parent.config.getini("python_files")
    if any(fnmatch.fnmatch(file_path.name, pattern) for pattern in patterns):
        return None  # python_files already matches it
    module: pytest.Module = parent.session.gethookproxy(file_path).pytest_pycollect_makemodule(
        module_path=file_path, parent=parent
    )
    return module


@pytest.fixture(scope="session")
def bench_report(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Append one line (may contain newlines) to the end-of-run benchmark report."""
    return pytestconfig.stash[_REPORT].append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, [])
    if not lines:
        return
    terminalreporter.section("benchmark report")
    for block in lines:
        for line in block.splitlines():
            terminalreporter.write_line(line)
