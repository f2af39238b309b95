"""`tokenwire models` and `tokenwire cost`: catalog listings without keys, live lists merged
with the catalog (over a loopback server), and cost breakdowns as Roo-Code prices them."""

from __future__ import annotations

import io
import json

import pytest

from tokenwire import Usage, catalog, cli
from tokenwire.testing import AnthropicMockServer
from tokenwire.tokens import estimate_input_tokens
from tokenwire.types import ChatRequest, Message

KEY_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN")


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*KEY_VARS, "HUGGINGFACE_API_KEY", "ANTHROPIC_BASE_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _ids(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[1:]]


# -- models ----------------------------------------------------------------------------------------
def test_models_without_a_key_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "anthropic")
    assert code == 0
    assert "no credentials" in err and "ANTHROPIC_API_KEY" in err and "anthropic.ts" in err
    header = out.splitlines()[0].split()
    assert header[:3] == ["model", "context", "max"] and "tiers" in header
    assert _ids(out) == sorted(m.id for m in catalog.models("anthropic"))
    sonnet = next(line for line in out.splitlines() if line.startswith("claude-sonnet-4-5 "))
    assert sonnet.split() == ["claude-sonnet-4-5", "200000", "64000", "3", "15", "0.3", "3.75", "long-context"]


def test_models_of_a_router_show_roos_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "openrouter")
    assert code == 0
    assert _ids(out) == ["anthropic/claude-sonnet-4"]
    assert "default model only" in err and "fetched live" in err


def test_models_catalog_flag_and_openai_service_tiers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    code, out, err = run(capsys, "models", "openai", "--catalog")
    assert code == 0 and "--catalog given" in err
    o3 = next(line for line in out.splitlines() if line.startswith("o3 "))
    assert o3.split()[-1] == "flex,priority"


def test_models_of_catalog_only_and_unknown_providers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "bedrock")
    assert code == 0 and "anthropic.claude-sonnet-4-20250514-v1:0" in _ids(out)
    code, out, _ = run(capsys, "models", "gemini-cli", "--catalog")
    row = next(line.split() for line in out.splitlines() if line.startswith("gemini-1.5-pro-002 "))
    assert row[1:3] == ["2097152", "8192"]  # integers print in full
    code, out, err = run(capsys, "models", "huggingface")
    assert code == 2 and out == "" and "no models" in err
    code, _, err = run(capsys, "models", "no-such-provider")
    assert code == 2 and "unknown provider 'no-such-provider'" in err


def test_models_live_list_is_merged_with_the_catalog(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = ["claude-sonnet-4-5", "claude-3-5-haiku-20241022", "claude-brand-new"]
    with AnthropicMockServer(api_key="sk-ant-test", models=listed) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        code, out, err = run(capsys, "models", "anthropic")
        assert [r.path for r in server.requests] == ["/v1/models"]
        base_url = server.base_url
    assert code == 0, err
    assert f"live model list from {base_url}" in err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert sorted(rows) == sorted(listed)
    # Anthropic's list has no prices: they come from the catalog.
    assert rows["claude-3-5-haiku-20241022"][3:7] == ["1", "5", "0.1", "1.25"]
    assert rows["claude-brand-new"][3:7] == ["-", "-", "-", "-"]


def test_models_live_error_exits_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with AnthropicMockServer(api_key="sk-ant-right") as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        code, out, err = run(capsys, "models", "anthropic")
    assert code == 1 and out == ""
    assert "AuthenticationError" in err and "--catalog" in err and "sk-ant-wrong" not in err


# -- cost --------------------------------------------------------------------------------------------
def test_cost_from_token_counts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "cost", "anthropic/claude-sonnet-4-5", "--input", "1000", "--output", "500", "--cache-read", "2_000"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "anthropic/claude-sonnet-4-5"
    assert lines[1].startswith("convention: anthropic (input excludes cache tokens); Roo-Code: src/api/providers/")
    table = {line[:12].strip(): line[12:].split() for line in lines[3:8]}
    assert table["input"] == ["1,000", "3", "0.003000"]
    assert table["cache read"] == ["2,000", "0.3", "0.000600"]
    assert table["output"] == ["500", "15", "0.007500"]
    assert table["total"] == ["0.011100"]
    assert not [line for line in lines if line.startswith("note:")]


def test_cost_json_with_tiers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "cost",
        "openai/o3",
        "--input",
        "100000",
        "--output",
        "10000",
        "--cache-read",
        "50000",
        "--service-tier",
        "flex",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert (data["convention"], data["tier"], data["reported_by_provider"]) == ("openai", "flex", False)
    assert data["lines"]["input"] == {"tokens": 50_000, "price_per_million": 1.0, "usd": pytest.approx(0.05)}
    assert data["total_usd"] == pytest.approx(0.1025)
    code, out, _ = run(capsys, "cost", "anthropic/claude-sonnet-4-5", "--input", "1", "--context-1m", "--json")
    assert json.loads(out)["tier"] == "1m-context"


def test_cost_of_a_prompt_estimates_input_and_bounds_output(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = "Explain the borrow checker in three sentences."
    code, out, _ = run(capsys, "cost", "gemini/gemini-2.5-flash", prompt, "--system", "Be brief.", "--json")
    assert code == 0
    data = json.loads(out)
    request = ChatRequest(model="gemini-2.5-flash", messages=(Message("user", prompt),), system="Be brief.")
    assert data["usage"]["input_tokens"] == estimate_input_tokens(request)
    assert data["usage"]["output_tokens"] == 64_000  # the model's max output: an upper bound
    assert any("upper bound" in note for note in data["notes"])
    assert any("estimated locally" in note for note in data["notes"])
    expected = catalog.cost(
        Usage(input_tokens=data["usage"]["input_tokens"], output_tokens=64_000),
        "gemini",
        "gemini-2.5-flash",
    )
    assert data["total_usd"] == expected


def test_cost_reads_the_prompt_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hello world"))
    code, out, _ = run(capsys, "cost", "openai/gpt-4o", "-", "--output", "0", "--json")
    assert code == 0
    request = ChatRequest(model="gpt-4o", messages=(Message("user", "hello world"),))
    assert json.loads(out)["usage"]["input_tokens"] == estimate_input_tokens(request)


def test_cost_of_a_reported_cost_provider_says_it_is_an_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "cost", "openrouter/anthropic/claude-sonnet-4", "--input", "10", "--output", "10")
    assert code == 0
    assert out.splitlines()[0] == "openrouter/anthropic/claude-sonnet-4"
    assert "note: openrouter reports its own cost, which Roo-Code shows; this is an estimate" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cost", "gpt-4o", "--input", "1"], "provider/model"),
        (["cost", "openai/no-such-model", "--input", "1"], "not in the catalog"),
        (["cost", "openai/gpt-4o", "hi", "--input", "1"], "not both"),
        (["cost", "io-intelligence/openai/gpt-oss-120b", "--input", "1"], "no prices"),
    ],
)
def test_cost_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and message in err


def test_cost_rejects_bad_token_counts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["cost", "openai/gpt-4o", "--input", "-5"])
    assert exit_info.value.code == 2
    assert "token counts are >= 0" in capsys.readouterr().err


def test_cost_says_when_roo_ignores_cache_counts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "cost", "zai/glm-4.5", "--input", "10000", "--output", "1000", "--cache-read", "5000")
    assert code == 0
    assert "convention: input-output (cache counts not used)" in out
    assert "note: cache reads not priced: Roo-Code does not count them for zai" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split() == ["total", f"{(10_000 * 0.6 + 1_000 * 2.2) / 1e6:.6f}"]
