"""AWS request signing and credentials, without boto3.

- :func:`sign_request` — Signature Version 4 (pure Python); returns the headers to add.
  Usable for any AWS call, not only Bedrock::

      from tokenwire.aws import resolve_credentials, resolve_region, sign_request

      creds = resolve_credentials()
      headers = {"content-type": "application/json"}
      headers |= sign_request("POST", url, headers, body, region=resolve_region() or "us-east-1",
                              service="bedrock", access_key=creds.access_key,
                              secret_key=creds.secret_key, session_token=creds.session_token)

- :func:`resolve_credentials` / :func:`resolve_region` — arguments, ``AWS_*`` environment
  variables, shared credentials and config files with profiles.
- :func:`bearer_token` — the Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``), used as
  ``Authorization: Bearer`` instead of SigV4 when set.

See :mod:`tokenwire.aws.sigv4` and :mod:`tokenwire.aws.credentials` for the exact rules.
"""

from __future__ import annotations

from tokenwire.aws.credentials import (
    AwsCredentials,
    bearer_token,
    config_file_path,
    credentials_file_path,
    profile_name,
    resolve_credentials,
    resolve_region,
)
from tokenwire.aws.sigv4 import UNSIGNED_PAYLOAD, SigningDetails, sign_request, sign_request_details

__all__ = [
    "UNSIGNED_PAYLOAD",
    "AwsCredentials",
    "SigningDetails",
    "bearer_token",
    "config_file_path",
    "credentials_file_path",
    "profile_name",
    "resolve_credentials",
    "resolve_region",
    "sign_request",
    "sign_request_details",
]
