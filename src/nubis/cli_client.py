"""How the nubis CLI reaches the server: boto3 clients at the endpoint for the AWS APIs, urllib for
nubis's own `/_nubis/*` JSON endpoints. boto3 is imported lazily so `nubis --help` stays fast."""
from __future__ import annotations

import argparse
import json
import os
from typing import Any

from nubis.cli_errors import CliError


def aws_client(args: argparse.Namespace, service: str, read_timeout: float = 60) -> Any:
    """A boto3 client for `service` at the nubis endpoint. Credentials come from the environment
    (AWS_ACCESS_KEY_ID / AWS_PROFILE) when set, else dummy ones: nubis does not check them, and
    skipping boto3's credential chain avoids its slow instance-metadata probe. No retries: a
    retried Invoke would run the function twice."""
    import boto3
    from botocore.config import Config

    creds: dict[str, str] = {}
    if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    session = boto3.session.Session(region_name=args.region, **creds)
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=read_timeout,
                    user_agent_extra="nubis-cli")
    return session.client(service, endpoint_url=args.endpoint, config=config)


def nubis_get(endpoint: str, path: str, params: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """GET a nubis-specific JSON endpoint; an HTTP error becomes CliError("<Code>: <Message>")."""
    import urllib.error
    import urllib.parse
    import urllib.request

    url = endpoint + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        raw = e.read()
        code = e.headers.get("x-amzn-ErrorType", "").split(":")[0] or f"HTTP{e.code}"
        message = raw.decode("utf-8", "replace").strip() or e.reason
        try:
            data = json.loads(raw)
            code = data.get("__type") or data.get("code") or code
            message = data.get("message") or data.get("Message") or message
        except (ValueError, AttributeError):
            pass
        raise CliError(f"{code}: {message}", 1) from None
    return json.loads(body)


def caller_account() -> str:
    """The account nubis will see: a 12-digit access key id is the account, anything else 000000000000."""
    key = os.environ.get("AWS_ACCESS_KEY_ID", "")
    return key if len(key) == 12 and key.isdigit() else "000000000000"
