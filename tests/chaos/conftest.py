"""The chaos suite runs its async tests on anyio's pytest plugin (asyncio backend: the
leak checks count asyncio tasks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.chaos._support import ANTHROPIC_KEY, OPENAI_KEY, scripted_answer

from tokenwire.testing import AnthropicMockServer, OpenAIMockServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def openai_server() -> Iterator[OpenAIMockServer]:
    with OpenAIMockServer(api_key=OPENAI_KEY) as server:
        server.default_script = scripted_answer
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicMockServer]:
    with AnthropicMockServer(api_key=ANTHROPIC_KEY) as server:
        server.default_script = scripted_answer
        yield server
