"""JSON Web Tokens for JWT authorizers: decoding, RS256/384/512 signature checks against a JWKS, and
the claim checks API Gateway makes (iss, aud or client_id, exp, nbf).

Pure Python (RSA PKCS#1 v1.5 verification is one modular exponentiation), so nubis needs no crypto
dependency. API Gateway accepts only RSA-signed tokens.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson

# DER DigestInfo prefixes (RFC 8017 §9.2) per JWS algorithm.
_DIGESTS = {
    "RS256": (hashlib.sha256, bytes.fromhex("3031300d060960864801650304020105000420")),
    "RS384": (hashlib.sha384, bytes.fromhex("3041300d060960864801650304020205000430")),
    "RS512": (hashlib.sha512, bytes.fromhex("3051300d060960864801650304020305000440")),
}


class InvalidToken(Exception):
    """The token is not acceptable; the message is the error_description API Gateway sends."""


def b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise InvalidToken("the token is not a valid JWT") from None


def decode(token: str) -> tuple[dict, dict, bytes, bytes]:
    """(header, claims, signing input, signature) without verifying anything."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("the token is not a valid JWT")
    try:
        header = orjson.loads(b64url(parts[0]))
        claims = orjson.loads(b64url(parts[1]))
    except orjson.JSONDecodeError:
        raise InvalidToken("the token is not a valid JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("the token is not a valid JWT")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), b64url(parts[2])


def rsa_verify(alg: str, jwk: dict, signing_input: bytes, signature: bytes) -> bool:
    if alg not in _DIGESTS or jwk.get("kty") != "RSA":
        return False
    n = int.from_bytes(b64url(jwk["n"]), "big")
    e = int.from_bytes(b64url(jwk["e"]), "big")
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    hash_fn, prefix = _DIGESTS[alg]
    t = prefix + hash_fn(signing_input).digest()
    if k < len(t) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def select_key(jwks: dict, header: dict) -> dict | None:
    keys = [k for k in jwks.get("keys") or [] if isinstance(k, dict) and k.get("kty") == "RSA"
            and k.get("use", "sig") == "sig"]
    kid = header.get("kid")
    if kid is not None:
        keys = [k for k in keys if k.get("kid") == kid]
    return keys[0] if len(keys) == 1 or (keys and kid is not None) else None


def validate_claims(claims: dict, issuer: str, audiences: list[str], now: float | None = None) -> None:
    now = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise InvalidToken("the token issuer does not match the authorizer's issuer")
    aud = claims.get("aud")
    aud_list = aud if isinstance(aud, list) else ([aud] if aud is not None else [])
    if audiences and not (set(aud_list) & set(audiences) or claims.get("client_id") in audiences):
        raise InvalidToken("the token does not have a valid audience")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise InvalidToken("the token has no expiration")
    if now >= exp:
        raise InvalidToken("the token has expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and now < nbf:
        raise InvalidToken("the token is not valid yet")
    iat = claims.get("iat")
    if isinstance(iat, (int, float)) and iat > now + 300:
        raise InvalidToken("the token was issued in the future")


def scopes_of(claims: dict) -> list[str]:
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [str(s) for s in raw]
    return []


def flat_claims(claims: dict) -> dict[str, str]:
    """Claims as API Gateway passes them on: every value a string (lists as "[a b]")."""
    out: dict[str, str] = {}
    for k, v in claims.items():
        if isinstance(v, str):
            out[k] = v
        elif isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, list):
            out[k] = "[" + " ".join(str(x) for x in v) + "]"
        elif isinstance(v, dict):
            out[k] = orjson.dumps(v).decode()
        else:
            out[k] = str(v)
    return out
