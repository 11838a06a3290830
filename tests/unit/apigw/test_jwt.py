"""JWT verification without a crypto package: RS256 against a JWK, and API Gateway's claim checks."""
import base64
import hashlib
import json

import pytest

from nubis.services.apigatewayv2 import jwt

# A 1024-bit test key (made with `openssl genrsa 1024` for this test only).
N = int("e403804e58af739a7bfa130c6f2165c6f882ce8008746dd85d32b174990a1fb2199157a04e79565b6db1beb3895e778448f2c9601bb0"
        "2a8a43d6ca90aef8673b3139716cbe741c218b20ff0864e6c428e6ab0def6a5f181eb89ff21f3c28209b785262f2be594cd564fc72c5"
        "a22265cdd481e8f12cd2f5f1b1b4b14064266c95", 16)
D = int("8e23389a9e6251385e4c980f4a3f9188a56635804ec4f5acc8fc4eef166fdf2e510def87f9235e98041ba77b9808918c9f44ea0fc572"
        "de31eef438b654bc78ec9a175505ec4270af80a01d3b9872ce745e7d320a9c7e483f873f6ed1c10e252afb1f68ce5ca62c81a0a16455"
        "ac9d78c6b009f99050644ec71793d881a30ab001", 16)
K = (N.bit_length() + 7) // 8
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


JWK = {"kty": "RSA", "kid": "k1", "n": b64url(N.to_bytes(K, "big")), "e": b64url((65537).to_bytes(3, "big"))}


def sign(claims: dict, header: dict | None = None) -> str:
    header = header or {"alg": "RS256", "kid": "k1"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    t = SHA256_PREFIX + hashlib.sha256(signing_input.encode()).digest()
    em = b"\x00\x01" + b"\xff" * (K - len(t) - 3) + b"\x00" + t
    sig = pow(int.from_bytes(em, "big"), D, N).to_bytes(K, "big")
    return f"{signing_input}.{b64url(sig)}"


def test_signature_round_trip_and_tamper():
    token = sign({"sub": "x"})
    header, claims, signing_input, signature = jwt.decode(token)
    assert claims == {"sub": "x"} and jwt.select_key({"keys": [JWK]}, header) == JWK
    assert jwt.rsa_verify("RS256", JWK, signing_input, signature)
    assert not jwt.rsa_verify("RS256", JWK, signing_input + b"x", signature)
    assert not jwt.rsa_verify("HS256", JWK, signing_input, signature)
    assert jwt.select_key({"keys": [JWK]}, {"kid": "other"}) is None


@pytest.mark.parametrize("token", ["a.b", "a.b.c", "", "e30.e30"])
def test_malformed_tokens(token):
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(token)


def test_claims():
    ok = {"iss": "https://i", "aud": ["x", "app"], "exp": 200}
    jwt.validate_claims(ok, "https://i", ["app"], now=100)
    jwt.validate_claims({"iss": "https://i", "client_id": "app", "exp": 200}, "https://i", ["app"], now=100)
    for claims, now in (({**ok, "exp": 100}, 100), ({**ok, "iss": "https://j"}, 100), ({**ok, "aud": "y"}, 100),
                        ({"iss": "https://i", "aud": "app"}, 100), ({**ok, "nbf": 150}, 100)):
        with pytest.raises(jwt.InvalidToken):
            jwt.validate_claims(claims, "https://i", ["app"], now=now)


def test_scopes_and_flat_claims():
    assert jwt.scopes_of({"scope": "a b"}) == ["a", "b"] and jwt.scopes_of({"scp": ["c"]}) == ["c"]
    assert jwt.flat_claims({"n": 1, "l": ["a", "b"], "b": True, "s": "x"}) == \
        {"n": "1", "l": "[a b]", "b": "true", "s": "x"}
