"""EventBridge event patterns: the documented operators."""
import pytest

from nubis.services.eventbridge.patterns import InvalidPattern, matches, validate

EVENT = {"version": "0", "id": "1", "detail-type": "Order Placed", "source": "com.shop.orders", "account": "1",
         "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": ["arn:aws:x:::a", "arn:aws:x:::b"],
         "detail": {"state": "running", "price": 42.5, "tags": ["red", "blue"], "ip": "10.0.1.7",
                    "customer": {"tier": "Gold", "email": "A@Example.com"}, "file": "photo.JPG", "none": None}}


@pytest.mark.parametrize("pattern,expected", [
    ({"source": ["com.shop.orders"]}, True),
    ({"source": ["other"]}, False),
    ({"detail": {"state": ["running", "stopped"]}}, True),
    ({"detail": {"tags": ["blue"]}}, True),
    ({"resources": ["arn:aws:x:::b"]}, True),
    ({"detail": {"none": [None]}}, True),
    ({"detail": {"missing": [None]}}, False),
    ({"source": [{"prefix": "com.shop"}]}, True),
    ({"source": [{"prefix": {"equals-ignore-case": "COM.SHOP"}}]}, True),
    ({"detail": {"file": [{"suffix": ".jpg"}]}}, False),
    ({"detail": {"file": [{"suffix": {"equals-ignore-case": ".jpg"}}]}}, True),
    ({"detail": {"state": [{"anything-but": "stopped"}]}}, True),
    ({"detail": {"state": [{"anything-but": ["running", "x"]}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "run"}}]}}, False),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
    ({"detail": {"price": [{"numeric": [">", 40, "<=", 42.5]}]}}, True),
    ({"detail": {"price": [{"numeric": ["<", 40]}]}}, False),
    ({"detail": {"price": [42.5]}}, True),
    ({"detail": {"state": [{"exists": True}]}}, True),
    ({"detail": {"gone": [{"exists": False}]}}, True),
    ({"detail": {"customer": [{"exists": True}]}}, False),  # exists looks at leaves only
    ({"detail": {"customer": {"tier": [{"equals-ignore-case": "gold"}]}}}, True),
    ({"detail": {"customer": {"email": [{"wildcard": "*@example.com"}]}}}, False),
    ({"detail": {"customer": {"email": [{"wildcard": "*@Example.*"}]}}}, True),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
    ({"$or": [{"source": ["nope"]}, {"detail": {"state": ["running"]}}]}, True),
    ({"$or": [{"source": ["nope"]}, {"detail": {"state": ["x"]}}]}, False),
    ({"source": ["com.shop.orders"], "detail-type": ["Other"]}, False),
])
def test_operators(pattern, expected):
    validate(pattern)
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize("pattern", [
    [], {"source": "x"}, {"source": [{"prefix": 1}]}, {"source": [{"bogus": "x"}]}, {"a": [{"exists": "yes"}]},
    {"a": [{"numeric": [">", "x"]}]}, {"a": [{"numeric": ["!", 1]}]}, {"a": [{"prefix": "a", "suffix": "b"}]},
    {"$or": [{"a": ["b"]}]}, {"a": [[1]]}, {"a": [{"cidr": "not-an-ip"}]},
])
def test_invalid_patterns(pattern):
    with pytest.raises(InvalidPattern):
        validate(pattern)
