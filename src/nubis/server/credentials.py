"""Which access keys nubis knows the secret of, and the session credentials it hands to functions.

nubis cannot know the secret of an arbitrary access key, and tools are pointed at it with any
credentials (as with LocalStack). So a key is *known* only when it is listed in a credentials file in
the AWS shared-credentials INI format (`~/.aws/credentials` works as it is): `<data dir>/credentials`
and any files named by NUBIS_CREDENTIALS (or `serve(credentials_files=...)`). Requests signed with a
known key are verified (see sigv4.py); others are accepted unless the server is in strict mode.

Functions get session credentials derived from the server's secret: access key = the account id (so the
account is unchanged), a session token that proves nubis issued them, and a secret that only nubis and the
function know. Requests carrying such a token are always verifiable, in every mode.
"""
from __future__ import annotations

import configparser
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

TOKEN_PREFIX = "nubis1."


class CredentialsFileError(Exception):
    """A credentials file that was asked for is missing or not in the shared-credentials format."""


def read_credentials_file(path: Path) -> dict[str, str]:
    """access key id -> secret, from every profile of an AWS shared-credentials file."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except FileNotFoundError:
        raise CredentialsFileError(f"credentials file not found: {path}") from None
    except (configparser.Error, UnicodeDecodeError, OSError) as e:
        raise CredentialsFileError(f"cannot read credentials file {path}: {e}") from None
    keys: dict[str, str] = {}
    for section in parser.sections():
        key = parser.get(section, "aws_access_key_id", fallback="").strip()
        secret = parser.get(section, "aws_secret_access_key", fallback="").strip()
        if key and secret:
            keys[key] = secret
        elif key or secret:
            raise CredentialsFileError(f"{path}: profile [{section}] needs both aws_access_key_id and "
                                       "aws_secret_access_key")
    return keys


@lru_cache(maxsize=4096)
def function_credentials(server_secret: bytes, account: str) -> tuple[str, str, str]:
    """(access key id, secret access key, session token) for functions of `account`."""
    token = TOKEN_PREFIX + hmac.new(server_secret, b"token|" + account.encode(), hashlib.sha256).hexdigest()
    secret = hmac.new(server_secret, b"secret|" + token.encode(), hashlib.sha256).hexdigest()[:40]
    return account, secret, token


@dataclass
class KnownCredentials:
    keys: dict[str, str] = field(default_factory=dict)  # access key id -> secret
    server_secret: bytes = b""

    @classmethod
    def load(cls, data_dir: Path, files: Iterable[Path | str] = (), server_secret: bytes = b"") -> "KnownCredentials":
        """`<data dir>/credentials` if present, then each explicit file (which must exist); later wins."""
        keys: dict[str, str] = {}
        default = data_dir / "credentials"
        if default.exists():
            keys.update(read_credentials_file(default))
        for f in files:
            keys.update(read_credentials_file(Path(f).expanduser()))
        return cls(keys, server_secret)

    def secret_for(self, access_key: str, token: str | None) -> str | None:
        """The secret to verify a request with, or None when nubis does not know it."""
        if token and token.startswith(TOKEN_PREFIX) and self.server_secret:
            key, secret, expected = function_credentials(self.server_secret, access_key)
            return secret if hmac.compare_digest(token, expected) else None
        return self.keys.get(access_key)


def env_files() -> list[str]:
    """Files named by NUBIS_CREDENTIALS (os.pathsep-separated)."""
    return [p for p in os.environ.get("NUBIS_CREDENTIALS", "").split(os.pathsep) if p.strip()]
