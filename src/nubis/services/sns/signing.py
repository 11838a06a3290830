"""Message signatures, as SNS signs them: RSA PKCS#1 v1.5 over the documented string to sign, with
SHA1 (SignatureVersion 1) or SHA256 (SignatureVersion 2), and the certificate served at SigningCertURL.

Each data dir gets its own 2048-bit key and a self-signed X.509 certificate for it (the `cryptography`
package), so a subscriber can verify that a message came from this server exactly as it verifies AWS's
(fetch the certificate, check the signature); the certificate is of course not issued by Amazon's CA.
Signatures are cached per string to sign: every subscriber of one message gets the same one.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

CERT_PATH = "/_aws/sns/"
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
_CACHE_SIZE = 4096


class Signer:
    def __init__(self, data_dir: Path) -> None:
        self.key_path = data_dir / "sns-signing-key.pem"
        self._key: rsa.RSAPrivateKey | None = None
        self._cert_pem: bytes = b""
        self._cert_name = ""
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[bytes, str], str] = OrderedDict()
        self._loading: asyncio.Future | None = None

    async def ready(self) -> None:
        """Load the key in a worker thread, once (the first time a server signs anything, not at start:
        most servers never use SNS)."""
        if self._key is not None:
            return
        if self._loading is None:
            self._loading = asyncio.ensure_future(asyncio.to_thread(self.load))
        await asyncio.shield(self._loading)

    def load(self) -> None:
        """Read (or create, the first time) the key and certificate. Blocking: run it in a thread."""
        with self._lock:
            if self._key is not None:
                return
            if self.key_path.exists():
                key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
                assert isinstance(key, rsa.RSAPrivateKey)
            else:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                tmp = self.key_path.with_suffix(".tmp")
                tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
                tmp.chmod(0o600)
                tmp.replace(self.key_path)
            cert = self_signed_certificate(key)
            der = cert.public_bytes(serialization.Encoding.DER)
            self._cert_pem = cert.public_bytes(serialization.Encoding.PEM)
            self._cert_name = f"SimpleNotificationService-{hashlib.md5(der).hexdigest()}.pem"  # noqa: S324 - a name
            self._key = key

    @property
    def cert_pem(self) -> bytes:
        self.load()
        return self._cert_pem

    @property
    def cert_name(self) -> str:
        self.load()
        return self._cert_name

    def cert_url(self, endpoint: str) -> str:
        return f"{endpoint}{CERT_PATH}{self.cert_name}"

    def sign(self, data: bytes, version: str = "1") -> str:
        """Base64 signature of `data` for SignatureVersion 1 (SHA1) or 2 (SHA256)."""
        version = version if version in _HASHES else "1"
        hit = self._cache.get((data, version))
        if hit is not None:
            return hit
        self.load()
        assert self._key is not None
        sig = base64.b64encode(self._key.sign(data, padding.PKCS1v15(), _HASHES[version]())).decode()
        self._cache[(data, version)] = sig
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return sig


def self_signed_certificate(key: rsa.RSAPrivateKey, common_name: str = "sns.amazonaws.com") -> x509.Certificate:
    """An X.509 v3 certificate for the key, signed by itself (sha256WithRSAEncryption), valid 20 years.
    The serial derives from the key, so a restart serves the same certificate name."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    numbers = key.public_key().public_numbers()
    serial = int.from_bytes(hashlib.sha256(str(numbers.n).encode()).digest()[:16], "big") >> 1
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(start).not_valid_after(start.replace(year=2049))
            .sign(key, hashes.SHA256()))
