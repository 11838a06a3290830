"""Values of the nubis CLI's options: the endpoint, `--since` times, `--env KEY=VALUE` pairs."""
from __future__ import annotations

import argparse
import re
import time
from datetime import datetime, timezone

DEFAULT_ENDPOINT = "http://127.0.0.1:8750"
DEFAULT_REGION = "us-east-1"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def normalize_endpoint(endpoint: str) -> str:
    """Accept `host:port` as well as a URL; drop a trailing slash."""
    endpoint = endpoint.strip()
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    return endpoint.rstrip("/")


def parse_since(text: str, now: float | None = None) -> float:
    """`10m`, `1h`, `7d`, `30s`, `2w` (ago) or an ISO 8601 date/time -> epoch seconds.

    An ISO time without a zone is taken as UTC, like every time nubis prints."""
    now = time.time() if now is None else now
    m = _DURATION.match(text)
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"expected a duration like 10m, 1h, 7d or an ISO 8601 time, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def since_arg(text: str) -> float:
    try:
        return parse_since(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value
