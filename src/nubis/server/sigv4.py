"""Signature verification for requests signed with credentials nubis knows (see credentials.py).

A request whose access key nubis does not know is accepted untouched (unless strict), so the common
case costs two dict lookups. A known key is verified as AWS does: the canonical request is rebuilt from
what arrived (SigV4: Authorization header or presigned query; S3 also SigV2), hashed, signed with the
derived key (cached per secret/date/region/service) and compared. S3 also gets its body checks
(x-amz-content-sha256, signed aws-chunked chunks), made as the body streams in (sigv4_body.py).

Canonicalisation follows the SigV4 spec as botocore implements it: S3 paths are not normalised and are
encoded once, other services' paths are normalised and encoded twice; query keys and values are
re-encoded (RFC 3986 unreserved characters kept) and sorted. Clients differ in how they encode the raw
path and query, so where the text as sent differs from its canonical re-encoding, both are tried.
"""
from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from botocore.utils import normalize_url_path

from . import auth_errors
from .context import SigV4Scope
from .credentials import KnownCredentials
from .errors import AwsError
from .messages import HttpRequest
from .sigv2 import check_sigv2
from .sigv4_body import ChunkSignatureCheck, CheckedStream, Sha256Check

MAX_SKEW_S = 15 * 60
ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_MARKERS = {UNSIGNED, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")

MODES = ("off", "known", "strict")


class Verifier:
    """`check` raises the service's AwsError for a request that fails authentication."""

    def __init__(self, known: KnownCredentials, mode: str = "known", clock: Any = time.time) -> None:
        if mode not in MODES:
            raise ValueError(f"signature verification mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.known = known
        self.mode = mode
        self.strict = mode == "strict"
        self.enabled = mode != "off"
        self.clock = clock
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    # -- entry point ------------------------------------------------------------------------------------
    def check(self, req: HttpRequest, scope: SigV4Scope | None, protocol: str,
              path_style: str | None = None) -> CheckedStream | None:
        """Verify `req` (as it arrived: original Host and path) for a service speaking `protocol`.

        `path_style` is S3's bucket-qualified path (for SigV2's canonical resource). Returns a replacement
        for `req.stream` when a streamed body must be checked as it arrives, else None.
        """
        if not self.enabled:
            return None
        if scope is None:
            if self.strict:
                raise auth_errors.missing_auth(protocol)
            return None
        headers = req.headers
        auth = headers.get("authorization")
        token = headers.get("x-amz-security-token")
        if token is None and not auth and "-security-token=" in req.query.lower():
            q = _query(req)  # SigV4 presigning spells it X-Amz-Security-Token, SigV2 x-amz-security-token
            token = q.get("X-Amz-Security-Token") or q.get("x-amz-security-token")
        secret = self.known.secret_for(scope.access_key, token)
        if secret is None:
            if self.strict:
                raise auth_errors.unknown_key(protocol, scope.access_key)
            return None
        if auth:
            if auth.startswith(ALGORITHM):
                return self._header_auth(req, auth, secret, protocol)
            if auth.startswith("AWS "):
                check_sigv2(req, auth, None, secret, path_style or req.path, self.clock(), MAX_SKEW_S)
            return None
        q = _query(req)
        if "X-Amz-Signature" in q:
            self._query_auth(req, q, secret, protocol)
        elif "Signature" in q and "AWSAccessKeyId" in q:
            check_sigv2(req, None, q, secret, path_style or req.path, self.clock(), MAX_SKEW_S)
        return None

    # -- SigV4, Authorization header ----------------------------------------------------------------------
    def _header_auth(self, req: HttpRequest, auth: str, secret: str, protocol: str) -> CheckedStream | None:
        parts: dict[str, str] = {}
        for item in auth[len(ALGORITHM):].split(","):
            k, _, v = item.strip().partition("=")
            parts[k.strip()] = v.strip()
        for name in ("Credential", "SignedHeaders", "Signature"):
            if not parts.get(name):
                raise auth_errors.malformed(protocol, f"Authorization header requires '{name}' parameter. "
                                            f"Authorization={auth}")
        credential, signed, provided = parts["Credential"], parts["SignedHeaders"], parts["Signature"]
        access_key, date, region, service, _ = _credential(credential, protocol)
        s3 = protocol == "s3"
        amz_date = req.headers.get("x-amz-date") or ""
        request_t = _parse_amz_date(amz_date)
        if request_t is None:
            if s3:
                raise AwsError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403)
            raise auth_errors.malformed(protocol, "Authorization header requires existence of either a "
                                        "'X-Amz-Date' or a 'Date' header. Authorization=" + auth)
        now = self.clock()
        if abs(now - request_t) > MAX_SKEW_S:
            raise auth_errors.too_skewed(protocol, amz_date, request_t, now, MAX_SKEW_S)
        declared = req.headers.get("x-amz-content-sha256")
        if s3:
            if declared is None:
                raise auth_errors.missing_content_sha256()
            if declared not in UNSIGNED_MARKERS and declared not in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER) \
                    and not _HEX64.fullmatch(declared):
                raise auth_errors.invalid_content_sha256(declared)
            payload = declared
        elif req.body_too_large:
            return None  # the body was dropped: the edge answers RequestEntityTooLarge
        else:  # the body is buffered: its own hash is what was signed (a differing header cannot match)
            payload = declared if declared and not _HEX64.fullmatch(declared) else self._body_hash(req)
        scope = f"{date}/{region}/{service}/aws4_request"
        key = self._signing_key(secret, date, region, service)
        self._compare(req, signed.lower().split(";"), signed, payload, amz_date, scope, key, provided, access_key,
                      protocol, s3, exclude=None)
        if not s3:
            return None
        return self._body_check(req, declared, protocol, key, amz_date, scope, provided, access_key)

    # -- SigV4, presigned query ---------------------------------------------------------------------------
    def _query_auth(self, req: HttpRequest, q: dict[str, str], secret: str, protocol: str) -> None:
        if q.get("X-Amz-Algorithm") != ALGORITHM:
            raise AwsError("AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
                           400) if protocol == "s3" else auth_errors.malformed(protocol, "Unsupported algorithm")
        for name in ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Date"):
            if not q.get(name):
                raise (AwsError("AuthorizationQueryParametersError", "Query-string authentication version 4 "
                                "requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, "
                                "X-Amz-SignedHeaders, and X-Amz-Expires parameters.", 400)
                       if protocol == "s3" else auth_errors.malformed(protocol, f"{name} is missing"))
        access_key, date, region, service, _ = _credential(q["X-Amz-Credential"], protocol)
        s3 = protocol == "s3"
        declared = req.headers.get("x-amz-content-sha256")
        payload = (declared or UNSIGNED) if s3 else self._body_hash(req)
        scope = f"{date}/{region}/{service}/aws4_request"
        key = self._signing_key(secret, date, region, service)
        signed = q["X-Amz-SignedHeaders"]
        self._compare(req, signed.lower().split(";"), signed, payload, q["X-Amz-Date"], scope, key,
                      q["X-Amz-Signature"], access_key, protocol, s3, exclude="X-Amz-Signature")

    # -- the shared part ------------------------------------------------------------------------------------
    def _compare(self, req: HttpRequest, names: list[str], signed: str, payload: str, amz_date: str, scope: str,
                 key: bytes, provided: str, access_key: str, protocol: str, s3: bool, exclude: str | None) -> None:
        headers = req.headers
        lines = []
        for name in names:
            value = headers.get(name) or ""
            lines.append(f"{name}:{' '.join(value.split())}\n")
        canonical_headers = "".join(lines)
        first: tuple[str, str] | None = None
        for uri in _uris(req.path, s3):
            for query in _queries(req.query, exclude):
                creq = f"{req.method}\n{uri}\n{query}\n{canonical_headers}\n{signed}\n{payload}"
                sts = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode('utf-8')).hexdigest()}"
                expected = hmac.digest(key, sts.encode("utf-8"), "sha256").hex()
                if hmac.compare_digest(expected, provided):
                    return
                if first is None:
                    first = (creq, sts)
        assert first is not None
        raise auth_errors.signature_mismatch(protocol, access_key, first[1], provided, first[0])

    def _body_check(self, req: HttpRequest, declared: str | None, protocol: str, key: bytes,
                    amz_date: str, scope: str, seed: str, access_key: str) -> CheckedStream | None:
        if declared is None or declared in UNSIGNED_MARKERS or req.body_too_large:
            return None
        if declared in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER):
            def mismatch(sts: str, provided: str) -> AwsError:
                return auth_errors.signature_mismatch(protocol, access_key, sts, provided, None)
            checker: Any = ChunkSignatureCheck(key, amz_date, scope, seed, declared == STREAMING_SIGNED_TRAILER,
                                               mismatch)
        elif _HEX64.fullmatch(declared):
            checker = Sha256Check(declared)
        else:
            return None
        if req.stream is None:
            checker.feed(req.body)
            checker.finish()
            return None
        return CheckedStream(req.stream, checker)

    @staticmethod
    def _body_hash(req: HttpRequest) -> str:
        return hashlib.sha256(req.body).hexdigest()

    def _signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        ident = (secret, date, region, service)
        key = self._keys.get(ident)
        if key is None:
            key = signing_key(secret, date, region, service)
            if len(self._keys) > 4096:
                self._keys.clear()
            self._keys[ident] = key
        return key


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(("AWS4" + secret).encode("utf-8"), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def _credential(value: str, protocol: str) -> tuple[str, str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise auth_errors.malformed(protocol, f"the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/"
                                    f"REGION/SERVICE/aws4_request\". ({value})")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


@lru_cache(maxsize=1024)
def _parse_amz_date(value: str) -> float | None:
    m = _AMZ_DATE.fullmatch(value)
    if not m:
        return None
    try:
        return float(calendar.timegm(tuple(int(g) for g in m.groups()) + (0, 0, 0)))  # type: ignore[arg-type]
    except (ValueError, OverflowError):
        return None


def _query(req: HttpRequest) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in req.query_params():
        out.setdefault(k, v)
    return out


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


@lru_cache(maxsize=4096)
def _uris(raw: str, s3: bool) -> tuple[str, ...]:
    """Canonical URI candidates: the spec's re-encoding first, then the path as the client sent it."""
    if s3:
        first = quote(unquote(raw), safe="/~")
        return (first,) if first == raw else (first, raw)
    normal = normalize_url_path(raw)
    first = quote(normal, safe="/~")
    second = quote(quote(unquote(normal), safe="/~"), safe="/~")
    return (first,) if first == second else (first, second)


def _queries(raw: str, exclude: str | None) -> list[str]:
    if not raw:
        return [""]
    pairs = []
    raw_pairs = []
    for item in raw.split("&"):
        if not item:
            continue
        k, _, v = item.partition("=")
        if exclude is not None and unquote(k) == exclude:
            continue
        pairs.append((_encode(unquote(k)), _encode(unquote(v))))
        raw_pairs.append((k, v))
    first = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    second = "&".join(f"{k}={v}" for k, v in sorted(raw_pairs))
    return [first] if first == second else [first, second]
