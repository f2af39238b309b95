"""AWS credentials and region, resolved the way the AWS CLI and SDKs resolve them.

Credentials (:func:`resolve_credentials`), first match wins
    1. explicit ``access_key`` / ``secret_key`` (/ ``session_token``) arguments;
    2. the environment: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
       ``AWS_SESSION_TOKEN`` (or the legacy ``AWS_SECURITY_TOKEN``). Skipped when a
       profile is passed as an argument: naming a profile in code means that profile,
       as in the AWS SDKs;
    3. the profile's static keys (``aws_access_key_id``, ``aws_secret_access_key``,
       ``aws_session_token`` or legacy ``aws_security_token``) in the shared credentials
       file (``AWS_SHARED_CREDENTIALS_FILE``, default ``~/.aws/credentials``, sections
       ``[NAME]``), then in the config file (``AWS_CONFIG_FILE``, default
       ``~/.aws/config``, sections ``[profile NAME]`` and ``[default]``).

    The profile is the ``profile`` argument, else ``AWS_PROFILE``, else
    ``AWS_DEFAULT_PROFILE``, else ``default``.

Not supported: ``credential_process``, IAM Identity Center (SSO), ``role_arn``
assume-role chains, web identity and the EC2/ECS metadata endpoints. A profile that
relies on one of them gets a :class:`~tokenwire.errors.ConfigurationError` saying so;
``aws configure export-credentials --profile NAME --format env`` turns any of them
into environment variables this module reads.

Region (:func:`resolve_region`): ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the
profile's ``region`` in the config file.

Bedrock API keys (:func:`bearer_token`): ``AWS_BEARER_TOKEN_BEDROCK``. When it is set,
Bedrock requests carry ``Authorization: Bearer <key>`` instead of a SigV4 signature.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tokenwire.errors import ConfigurationError

__all__ = [
    "AwsCredentials",
    "bearer_token",
    "config_file_path",
    "credentials_file_path",
    "profile_name",
    "resolve_credentials",
    "resolve_region",
]

# Profile settings that mean "credentials come from somewhere we do not implement".
_UNSUPPORTED_SOURCES = (
    "credential_process",
    "sso_session",
    "sso_start_url",
    "role_arn",
    "web_identity_token_file",
    "credential_source",
)
_UNSUPPORTED_NOTE = (
    "credential_process, SSO, assume-role, web identity and instance metadata are not supported; "
    "`aws configure export-credentials --profile NAME --format env` prints static credentials to export"
)


@dataclass(frozen=True)
class AwsCredentials:
    """An access key pair, optionally with the session token of temporary credentials.

    The repr shows the access key id (an identifier, not a secret) but never the
    secret key or the session token.
    """

    access_key: str
    secret_key: str
    session_token: Optional[str] = None
    source: str = field(default="explicit", compare=False)
    """Where the credentials were found (``"explicit"``, ``"environment"``, or a file
    and profile), for error messages."""

    def __repr__(self) -> str:
        token = "'***'" if self.session_token else "None"
        return (
            f"AwsCredentials(access_key={self.access_key!r}, secret_key='***', "
            f"session_token={token}, source={self.source!r})"
        )


def bearer_token(env: Mapping[str, str] = os.environ) -> Optional[str]:
    """The Bedrock API key from ``AWS_BEARER_TOKEN_BEDROCK``, or ``None`` when unset or empty."""
    token = env.get("AWS_BEARER_TOKEN_BEDROCK", "").strip()
    return token or None


def profile_name(profile: Optional[str] = None, *, env: Mapping[str, str] = os.environ) -> str:
    """The profile in effect: ``profile``, ``AWS_PROFILE``, ``AWS_DEFAULT_PROFILE`` or ``"default"``."""
    return profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"


def credentials_file_path(env: Mapping[str, str] = os.environ) -> Path:
    """``AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``."""
    return _expand(env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials", env)


def config_file_path(env: Mapping[str, str] = os.environ) -> Path:
    """``AWS_CONFIG_FILE`` or ``~/.aws/config``."""
    return _expand(env.get("AWS_CONFIG_FILE") or "~/.aws/config", env)


def resolve_credentials(
    profile: Optional[str] = None,
    *,
    access_key: Optional[str] = None,
    secret_key: Optional[str] = None,
    session_token: Optional[str] = None,
    env: Mapping[str, str] = os.environ,
) -> AwsCredentials:
    """Find AWS credentials: explicit arguments, then the environment, then the profile.

    Args:
        profile: a profile name; when given, environment keys are not consulted.
        access_key: explicit access key id (needs ``secret_key``).
        secret_key: explicit secret access key (needs ``access_key``).
        session_token: session token going with the explicit keys.
        env: the environment to read (``os.environ`` by default; tests pass a dict).

    Raises:
        ConfigurationError: no credentials anywhere, half a key pair, a named profile
            that does not exist, a profile using an unsupported credential source, or
            an unreadable/unparsable file. The message says what to set.
    """
    if access_key or secret_key:
        if not (access_key and secret_key):
            missing = "secret_key" if access_key else "access_key"
            raise ConfigurationError(f"AWS {missing} is missing: pass both access_key and secret_key")
        return AwsCredentials(access_key, secret_key, session_token or None, source="explicit")

    if profile is None:
        from_env = _credentials_from_env(env)
        if from_env is not None:
            return from_env

    name = profile_name(profile, env=env)
    cred_path = credentials_file_path(env)
    conf_path = config_file_path(env)
    cred_section = _read_ini(cred_path).get(name)
    conf_section = _config_profiles(conf_path).get(name)

    for section, path in ((cred_section, cred_path), (conf_section, conf_path)):
        if section is not None:
            found = _credentials_from_section(section, f"{path} [{name}]")
            if found is not None:
                return found

    for section, path in ((cred_section, cred_path), (conf_section, conf_path)):
        if section is not None:
            used = [key for key in _UNSUPPORTED_SOURCES if key in section]
            if used:
                raise ConfigurationError(
                    f"AWS profile {name!r} in {path} gets its credentials through {used[0]}, "
                    f"which tokenwire does not support: {_UNSUPPORTED_NOTE}"
                )

    named = profile is not None or name != "default"
    if named and cred_section is None and conf_section is None:
        raise ConfigurationError(
            f"AWS profile {name!r} not found in {cred_path} or {conf_path} "
            "(set AWS_PROFILE / AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, or pass another profile)"
        )
    where = f"profile {name!r} in {cred_path} and {conf_path} has no aws_access_key_id/aws_secret_access_key"
    raise ConfigurationError(
        "No AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN "
        f"for temporary credentials), or configure a profile ({where}); for Bedrock an API key in "
        f"AWS_BEARER_TOKEN_BEDROCK also works. Note: {_UNSUPPORTED_NOTE}"
    )


def resolve_region(profile: Optional[str] = None, *, env: Mapping[str, str] = os.environ) -> Optional[str]:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the profile's ``region`` in the
    config file, else ``None`` (the caller picks a default or asks for one)."""
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        return region.strip()
    section = _config_profiles(config_file_path(env)).get(profile_name(profile, env=env))
    if section is not None:
        value = section.get("region", "").strip()
        if value:
            return value
    return None


def _credentials_from_env(env: Mapping[str, str]) -> Optional[AwsCredentials]:
    access_key = env.get("AWS_ACCESS_KEY_ID", "").strip()
    secret_key = env.get("AWS_SECRET_ACCESS_KEY", "").strip()
    if not access_key and not secret_key:
        return None
    if not (access_key and secret_key):
        missing = "AWS_SECRET_ACCESS_KEY" if access_key else "AWS_ACCESS_KEY_ID"
        present = "AWS_ACCESS_KEY_ID" if access_key else "AWS_SECRET_ACCESS_KEY"
        raise ConfigurationError(f"{present} is set but {missing} is not: set both (or neither, to use a profile)")
    token = env.get("AWS_SESSION_TOKEN", "").strip() or env.get("AWS_SECURITY_TOKEN", "").strip()
    return AwsCredentials(access_key, secret_key, token or None, source="environment")


def _credentials_from_section(section: Mapping[str, str], where: str) -> Optional[AwsCredentials]:
    access_key = section.get("aws_access_key_id", "").strip()
    secret_key = section.get("aws_secret_access_key", "").strip()
    if not access_key and not secret_key:
        return None
    if not (access_key and secret_key):
        missing = "aws_secret_access_key" if access_key else "aws_access_key_id"
        raise ConfigurationError(f"AWS {where} is missing {missing}")
    token = section.get("aws_session_token", "").strip() or section.get("aws_security_token", "").strip()
    return AwsCredentials(access_key, secret_key, token or None, source=where)


def _config_profiles(path: Path) -> dict[str, dict[str, str]]:
    """Profiles of a config file: ``[profile NAME]`` is NAME and ``[default]`` is
    default; other sections (``[sso-session x]``, ``[services x]``) are not profiles."""
    profiles: dict[str, dict[str, str]] = {}
    for section, values in _read_ini(path).items():
        if section == "default":
            # "[profile default]" wins over "[default]" when both exist.
            profiles.setdefault("default", values)
        elif section.startswith("profile "):
            profiles[section[len("profile ") :].strip()] = values
    return profiles


def _read_ini(path: Path) -> dict[str, dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read AWS file {path}: {exc}") from exc
    import configparser  # here, not at the top: ~0.2 MB that only profile files need

    # Raw (no %-interpolation: secrets may contain '%'), and lenient about duplicate
    # sections/keys as the AWS CLI is.
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigurationError(f"cannot parse AWS file {path}: {exc}") from exc
    return {name: dict(parser.items(name)) for name in parser.sections()}


def _expand(path: str, env: Mapping[str, str]) -> Path:
    # "~" follows the given environment's HOME, so tests (and callers passing env=)
    # see a consistent world; os.path.expanduser is the fallback.
    if path == "~" or path.startswith(("~/", "~\\")):
        home = env.get("HOME") or env.get("USERPROFILE")
        if home:
            return Path(home) / path[2:]
    return Path(os.path.expanduser(path))
