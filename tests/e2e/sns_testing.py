"""Helpers shared by the SNS end-to-end tests: a server of their own with quick retries, a recorder
function, and the signature checks (string to sign, openssl against the published certificate)."""
from __future__ import annotations

import base64
import subprocess
import urllib.request
from pathlib import Path

import pytest

from nubis_testing import RECORDER, recorded, start_server, stop_server  # noqa: F401 - re-exported

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")


@pytest.fixture(scope="module")
def srv(tmp_path_factory, request):
    """A server of the module's own with quick retries (delivery policies scaled by 0.01)."""
    s = start_server(tmp_path_factory.mktemp(request.module.__name__) / "data", "--async-retry-scale", "0.01")
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def sns(srv):
    return srv.client("sns")


@pytest.fixture(scope="module")
def lam(srv):
    return srv.client("lambda")


def openssl_verifies(cert_url: str, signed: bytes, signature_b64: str, digest: str, tmp_path: Path) -> bool:
    """Whether openssl accepts the signature with the public key of the certificate SNS points to."""
    with urllib.request.urlopen(cert_url) as resp:
        (tmp_path / "cert.pem").write_bytes(resp.read())
    pub = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "cert.pem"), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    (tmp_path / "data").write_bytes(signed)
    (tmp_path / "sig").write_bytes(base64.b64decode(signature_b64))
    res = subprocess.run(["openssl", "dgst", f"-{digest}", "-verify", str(tmp_path / "pub.pem"), "-signature",
                          str(tmp_path / "sig"), str(tmp_path / "data")], capture_output=True, text=True)
    return res.returncode == 0 and "Verified OK" in res.stdout


def string_to_sign(doc: dict, keys: tuple[str, ...]) -> bytes:
    """SNS's string to sign: `key\\nvalue\\n` for each of `keys` the document has, in that order."""
    return "".join(f"{k}\n{doc[k]}\n" for k in keys if doc.get(k) is not None).encode()
