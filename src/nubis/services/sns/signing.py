"""Message signatures, as SNS signs them: RSA PKCS#1 v1.5 over the documented string to sign, with
SHA1 (SignatureVersion 1) or SHA256 (SignatureVersion 2), and the certificate served at SigningCertURL.

Each data dir gets its own 2048-bit key (generated with the `rsa` package on first use, 2-5 s) and a
self-signed X.509 certificate for it, so a subscriber can verify that a message came from this server
exactly as it verifies AWS's (fetch the certificate, check the signature); the certificate is of course
not issued by Amazon's CA. Signing uses the key's CRT form, and signatures are cached per string to
sign: every subscriber of one message gets the same one.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import rsa
from rsa.pkcs1 import HASH_ASN1

CERT_PATH = "/_aws/sns/"
_HASHES = {"1": ("SHA-1", hashlib.sha1), "2": ("SHA-256", hashlib.sha256)}
_CACHE_SIZE = 4096


class Signer:
    def __init__(self, data_dir: Path) -> None:
        self.key_path = data_dir / "sns-signing-key.pem"
        self._key: rsa.PrivateKey | None = None
        self._cert_pem: bytes = b""
        self._cert_name = ""
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[bytes, str], str] = OrderedDict()
        self._loading: asyncio.Future | None = None

    async def ready(self) -> None:
        """Load the key in a worker thread, once (the first time a server signs anything, not at start:
        most servers never use SNS, and making a key costs seconds of CPU)."""
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
                key = rsa.PrivateKey.load_pkcs1(self.key_path.read_bytes())
            else:
                _, key = rsa.newkeys(2048)
                tmp = self.key_path.with_suffix(".tmp")
                tmp.write_bytes(key.save_pkcs1())
                tmp.chmod(0o600)
                tmp.replace(self.key_path)
            der = self_signed_certificate(key)
            self._cert_pem = pem("CERTIFICATE", der)
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
        name, fn = _HASHES[version]
        sig = base64.b64encode(_sign_crt(self._key, HASH_ASN1[name] + fn(data).digest())).decode()
        self._cache[(data, version)] = sig
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return sig


def _sign_crt(key: rsa.PrivateKey, digest_info: bytes) -> bytes:
    """EMSA-PKCS1-v1_5 encoding, then m^d mod n through the Chinese remainder theorem."""
    k = (key.n.bit_length() + 7) // 8
    em = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
    m = int.from_bytes(em, "big")
    s1, s2 = pow(m, key.exp1, key.p), pow(m, key.exp2, key.q)
    s = s2 + ((key.coef * (s1 - s2)) % key.p) * key.q
    return s.to_bytes(k, "big")


# -- a minimal DER encoder: just what one self-signed certificate needs ---------------------------------
def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def _int(v: int) -> bytes:
    return _tlv(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def _seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _name(common_name: str) -> bytes:
    return _seq(_tlv(0x31, _seq(_oid("2.5.4.3"), _tlv(0x0C, common_name.encode()))))


def _time(t: dt.datetime) -> bytes:
    return _tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())  # UTCTime: fine until 2049


def self_signed_certificate(key: rsa.PrivateKey, common_name: str = "sns.amazonaws.com") -> bytes:
    """DER of an X.509 v3 certificate for the key, signed by itself with sha256WithRSAEncryption."""
    sha256_rsa = _seq(_oid("1.2.840.113549.1.1.11"), b"\x05\x00")
    public = _seq(_seq(_oid("1.2.840.113549.1.1.1"), b"\x05\x00"),
                  _tlv(0x03, b"\x00" + _seq(_int(key.n), _int(key.e))))
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    serial = int.from_bytes(hashlib.sha256(str(key.n).encode()).digest()[:16], "big") >> 1
    tbs = _seq(_tlv(0xA0, _int(2)), _int(serial), sha256_rsa, _name(common_name),
               _seq(_time(now - dt.timedelta(days=1)), _time(now.replace(year=min(now.year + 20, 2049)))),
               _name(common_name), public)
    signature = _sign_crt(key, HASH_ASN1["SHA-256"] + hashlib.sha256(tbs).digest())
    return _seq(tbs, sha256_rsa, _tlv(0x03, b"\x00" + signature))


def pem(label: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n").encode()
