"""``tokenwire.aws`` credentials, region and Bedrock bearer-token resolution.

Every test passes its own ``env`` dict and points the file variables into ``tmp_path``,
so the machine's real ``~/.aws`` and environment are never read.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Optional

import pytest

from tokenwire.aws import (
    AwsCredentials,
    bearer_token,
    config_file_path,
    credentials_file_path,
    profile_name,
    resolve_credentials,
    resolve_region,
)
from tokenwire.errors import ConfigurationError

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def files(
    tmp_path: Path, credentials: Optional[str] = None, config: Optional[str] = None, **extra: str
) -> dict[str, str]:
    """An environment whose credentials/config files live in tmp_path (absent unless given)."""
    cred = tmp_path / "credentials"
    conf = tmp_path / "config"
    if credentials is not None:
        cred.write_text(credentials, encoding="utf-8")
    if config is not None:
        conf.write_text(config, encoding="utf-8")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(cred), "AWS_CONFIG_FILE": str(conf), **extra}


CREDENTIALS = f"""\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = {SECRET}

[work]
aws_access_key_id=AKIDWORK
aws_secret_access_key=work%secret
aws_session_token = WORKTOKEN

# a comment
[legacy]
aws_access_key_id = AKIDLEGACY
aws_secret_access_key = legacysecret
aws_security_token = LEGACYTOKEN
"""

CONFIG = """\
[default]
region = us-west-2

[profile work]
region = eu-central-1
aws_access_key_id = AKIDFROMCONFIG
aws_secret_access_key = configsecret

[profile cfgonly]
region = ap-south-1
aws_access_key_id = AKIDCFGONLY
aws_secret_access_key = cfgonlysecret
s3 =
    max_concurrent_requests = 20

[work]
aws_access_key_id = AKIDNOTAPROFILE
aws_secret_access_key = not-a-profile-section

[profile sso]
sso_session = corp
sso_account_id = 123456789012
region = us-east-1

[profile proc]
credential_process = /usr/bin/get-creds

[sso-session corp]
sso_start_url = https://example.awsapps.com/start
"""


# --- AwsCredentials ---------------------------------------------------------------------


def test_repr_never_shows_secret_or_token() -> None:
    creds = AwsCredentials("AKIDEXAMPLE", SECRET, "SESSIONTOKEN123")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SECRET not in text
        assert "SESSIONTOKEN123" not in text
        assert "AKIDEXAMPLE" in text
    assert repr(creds) == (
        "AwsCredentials(access_key='AKIDEXAMPLE', secret_key='***', session_token='***', source='explicit')"
    )
    assert "session_token=None" in repr(AwsCredentials("AKID", SECRET))


def test_credentials_value_semantics() -> None:
    a = AwsCredentials("AKID", "s", "t", source="environment")
    b = AwsCredentials("AKID", "s", "t", source="explicit")
    assert a == b  # the source is provenance, not identity
    assert hash(a) == hash(b)
    assert a != AwsCredentials("AKID", "s", None)
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError):
        a.secret_key = "other"  # type: ignore[misc]


# --- explicit and environment -------------------------------------------------------------


def test_explicit_arguments_win(tmp_path: Path) -> None:
    env = files(tmp_path, CREDENTIALS, AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="envsecret")
    creds = resolve_credentials("work", access_key="AKIDARG", secret_key="argsecret", session_token="argtoken", env=env)
    assert creds == AwsCredentials("AKIDARG", "argsecret", "argtoken")
    assert creds.source == "explicit"


@pytest.mark.parametrize(
    ("given", "missing"), [({"access_key": "AKID"}, "secret_key"), ({"secret_key": "s"}, "access_key")]
)
def test_half_explicit_pair_is_an_error(given: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigurationError, match=missing):
        resolve_credentials(env={}, **given)  # type: ignore[arg-type]


def test_environment(tmp_path: Path) -> None:
    env = files(tmp_path, CREDENTIALS, AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="envsecret")
    creds = resolve_credentials(env=env)
    assert creds == AwsCredentials("AKIDENV", "envsecret", None)
    assert creds.source == "environment"


def test_environment_session_token_and_legacy_name() -> None:
    base = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "envsecret"}
    assert resolve_credentials(env={**base, "AWS_SESSION_TOKEN": "tok"}).session_token == "tok"
    assert resolve_credentials(env={**base, "AWS_SECURITY_TOKEN": "legacy"}).session_token == "legacy"
    both = {**base, "AWS_SESSION_TOKEN": "tok", "AWS_SECURITY_TOKEN": "legacy"}
    assert resolve_credentials(env=both).session_token == "tok"
    assert resolve_credentials(env={**base, "AWS_SESSION_TOKEN": ""}).session_token is None


def test_environment_beats_profile_from_env_var(tmp_path: Path) -> None:
    env = files(tmp_path, CREDENTIALS, AWS_PROFILE="work", AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="s")
    assert resolve_credentials(env=env).access_key == "AKIDENV"


def test_profile_argument_skips_environment(tmp_path: Path) -> None:
    env = files(tmp_path, CREDENTIALS, AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="s")
    assert resolve_credentials("work", env=env).access_key == "AKIDWORK"


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"AWS_ACCESS_KEY_ID": "AKID"}, "AWS_SECRET_ACCESS_KEY"),
        ({"AWS_SECRET_ACCESS_KEY": "s"}, "AWS_ACCESS_KEY_ID"),
        ({"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "  "}, "AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_half_environment_pair_is_an_error(env: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigurationError, match=f"but {missing} is not"):
        resolve_credentials(env=env)


def test_empty_environment_values_are_unset(tmp_path: Path) -> None:
    env = files(tmp_path, CREDENTIALS, AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    assert resolve_credentials(env=env).access_key == "AKIDDEFAULT"


# --- files and profiles -------------------------------------------------------------------


def test_default_profile_from_credentials_file(tmp_path: Path) -> None:
    creds = resolve_credentials(env=files(tmp_path, CREDENTIALS))
    assert creds == AwsCredentials("AKIDDEFAULT", SECRET, None)
    assert creds.source == f"{tmp_path / 'credentials'} [default]"


def test_named_profile_with_session_token(tmp_path: Path) -> None:
    creds = resolve_credentials("work", env=files(tmp_path, CREDENTIALS, CONFIG))
    # '%' is literal (no interpolation); the credentials file beats the config file.
    assert creds == AwsCredentials("AKIDWORK", "work%secret", "WORKTOKEN")


def test_legacy_security_token_in_file(tmp_path: Path) -> None:
    assert resolve_credentials("legacy", env=files(tmp_path, CREDENTIALS)).session_token == "LEGACYTOKEN"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"AWS_PROFILE": "work"}, "AKIDWORK"),
        ({"AWS_DEFAULT_PROFILE": "legacy"}, "AKIDLEGACY"),
        ({"AWS_PROFILE": "work", "AWS_DEFAULT_PROFILE": "legacy"}, "AKIDWORK"),
        ({}, "AKIDDEFAULT"),
    ],
)
def test_profile_selection_from_environment(tmp_path: Path, extra: dict[str, str], expected: str) -> None:
    env = files(tmp_path, CREDENTIALS, **extra)
    assert resolve_credentials(env=env).access_key == expected


def test_profile_argument_beats_profile_env_vars(tmp_path: Path) -> None:
    env = files(tmp_path, CREDENTIALS, AWS_PROFILE="work", AWS_DEFAULT_PROFILE="work")
    assert resolve_credentials("legacy", env=env).access_key == "AKIDLEGACY"
    assert profile_name("x", env=env) == "x"
    assert profile_name(env=env) == "work"
    assert profile_name(env={}) == "default"


def test_config_file_profiles(tmp_path: Path) -> None:
    env = files(tmp_path, None, CONFIG)
    # "[profile NAME]" in the config file; a bare "[work]" there is not a profile.
    assert resolve_credentials("work", env=env) == AwsCredentials("AKIDFROMCONFIG", "configsecret")
    creds = resolve_credentials("cfgonly", env=env)
    assert creds.access_key == "AKIDCFGONLY"
    assert creds.source == f"{tmp_path / 'config'} [cfgonly]"


def test_config_profile_default_section_variants(tmp_path: Path) -> None:
    conf = "[default]\naws_access_key_id=A\naws_secret_access_key=a\n"
    assert resolve_credentials(env=files(tmp_path, None, conf)).access_key == "A"
    both = conf + "[profile default]\naws_access_key_id=B\naws_secret_access_key=b\n"
    assert resolve_credentials(env=files(tmp_path, None, both)).access_key == "B"


def test_default_paths_follow_home(tmp_path: Path) -> None:
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[default]\naws_access_key_id=HOMEKEY\naws_secret_access_key=s\n")
    (aws / "config").write_text("[default]\nregion=sa-east-1\n")
    env = {"HOME": str(tmp_path)}
    assert credentials_file_path(env) == aws / "credentials"
    assert config_file_path(env) == aws / "config"
    assert resolve_credentials(env=env).access_key == "HOMEKEY"
    assert resolve_region(env=env) == "sa-east-1"


def test_file_variables_override_default_paths(tmp_path: Path) -> None:
    env = files(tmp_path, CREDENTIALS, CONFIG, HOME=str(tmp_path / "nowhere"))
    assert credentials_file_path(env) == tmp_path / "credentials"
    assert config_file_path(env) == tmp_path / "config"


# --- errors ---------------------------------------------------------------------------------


def test_nothing_configured_names_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(env=files(tmp_path))
    message = str(info.value)
    for needle in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        assert needle in message
    assert "'default'" in message
    assert "not supported" in message


@pytest.mark.parametrize("via_env", [False, True])
def test_unknown_named_profile(tmp_path: Path, via_env: bool) -> None:
    env = files(tmp_path, CREDENTIALS, CONFIG, **({"AWS_PROFILE": "nope"} if via_env else {}))
    with pytest.raises(ConfigurationError, match="profile 'nope' not found"):
        resolve_credentials(None if via_env else "nope", env=env)


@pytest.mark.parametrize(("profile", "source"), [("sso", "sso_session"), ("proc", "credential_process")])
def test_unsupported_credential_sources_are_explained(tmp_path: Path, profile: str, source: str) -> None:
    with pytest.raises(ConfigurationError, match=f"through {source}.*not support.*export-credentials"):
        resolve_credentials(profile, env=files(tmp_path, CREDENTIALS, CONFIG))


def test_profile_without_keys(tmp_path: Path) -> None:
    env = files(tmp_path, None, "[profile empty]\nregion = us-east-1\n")
    with pytest.raises(ConfigurationError, match="No AWS credentials found"):
        resolve_credentials("empty", env=env)


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ("[default]\naws_access_key_id = AKID\n", "aws_secret_access_key"),
        ("[default]\naws_secret_access_key = s\n", "aws_access_key_id"),
    ],
)
def test_half_pair_in_file(tmp_path: Path, body: str, missing: str) -> None:
    with pytest.raises(ConfigurationError, match=f"missing {missing}"):
        resolve_credentials(env=files(tmp_path, body))


def test_unparsable_file(tmp_path: Path) -> None:
    env = files(tmp_path, "aws_access_key_id = outside-any-section\n")
    with pytest.raises(ConfigurationError, match="cannot parse AWS file"):
        resolve_credentials(env=env)


def test_unreadable_file(tmp_path: Path) -> None:
    env = files(tmp_path)
    (tmp_path / "credentials").mkdir()  # a directory where a file is expected
    with pytest.raises(ConfigurationError, match="cannot read AWS file"):
        resolve_credentials(env=env)


def test_errors_never_contain_secrets(tmp_path: Path) -> None:
    env = files(tmp_path, f"[default]\naws_secret_access_key = {SECRET}\n")
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(env=env)
    assert SECRET not in str(info.value)


# --- region and bearer token ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "profile", "expected"),
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, None, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "eu-west-2"}, None, "eu-west-2"),
        ({}, None, "us-west-2"),
        ({}, "work", "eu-central-1"),
        ({"AWS_PROFILE": "cfgonly"}, None, "ap-south-1"),
        ({"AWS_REGION": "eu-west-1"}, "work", "eu-west-1"),
        ({}, "legacy", None),
        ({}, "nope", None),
    ],
)
def test_region(tmp_path: Path, extra: dict[str, str], profile: Optional[str], expected: Optional[str]) -> None:
    assert resolve_region(profile, env=files(tmp_path, CREDENTIALS, CONFIG, **extra)) == expected


def test_region_without_files(tmp_path: Path) -> None:
    assert resolve_region(env=files(tmp_path)) is None


def test_bearer_token() -> None:
    assert bearer_token({"AWS_BEARER_TOKEN_BEDROCK": "ABSKexample"}) == "ABSKexample"
    assert bearer_token({"AWS_BEARER_TOKEN_BEDROCK": " ABSKexample\n"}) == "ABSKexample"
    assert bearer_token({"AWS_BEARER_TOKEN_BEDROCK": ""}) is None
    assert bearer_token({}) is None


def test_bearer_token_does_not_replace_sigv4_credentials(tmp_path: Path) -> None:
    # The bearer token is a separate auth mode, chosen by the Bedrock adapter; it is not
    # a credential source and does not satisfy (or disturb) resolve_credentials.
    env = files(tmp_path, CREDENTIALS, AWS_BEARER_TOKEN_BEDROCK="ABSKexample")
    assert resolve_credentials(env=env).access_key == "AKIDDEFAULT"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="No AWS credentials found"):
        resolve_credentials(env=files(empty, AWS_BEARER_TOKEN_BEDROCK="ABSKexample"))
