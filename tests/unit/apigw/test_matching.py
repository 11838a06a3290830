"""Route keys and route selection (most specific first), as HTTP APIs choose."""
import pytest

from nubis.services.apigatewayv2.matching import RouteKeyError, RouteTable, parse_route_key


def table(*keys: str) -> RouteTable:
    return RouteTable({str(i): {"RouteId": str(i), "RouteKey": k} for i, k in enumerate(keys)})


def chosen(t: RouteTable, method: str, path: str):
    m = t.match(method, path)
    return None if m is None else (m.route["RouteKey"], m.path_parameters)


@pytest.mark.parametrize("key", ["GET", "get /x", "FETCH /x", "GET x", "GET /a//b", "GET /{proxy+}/x",
                                 "GET /{a}/{a}", "GET /a{b}", "GET /x y"])
def test_invalid_route_keys(key):
    with pytest.raises(RouteKeyError):
        parse_route_key(key)


def test_valid_route_keys():
    assert parse_route_key("$default").is_default
    key = parse_route_key("ANY /items/{id}/{rest+}")
    assert key.method == "ANY" and key.params == (None, "id", "rest") and key.greedy == "rest"
    assert parse_route_key("GET /").segments == ()


def test_aws_documented_priorities():
    """The example of AWS's 'Routing API requests' section."""
    t = table("GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default")
    assert chosen(t, "GET", "/pets/dog/1") == ("GET /pets/dog/1", {})
    assert chosen(t, "GET", "/pets/dog/2") == ("GET /pets/dog/{id}", {"id": "2"})
    assert chosen(t, "GET", "/pets/cat/1") == ("GET /pets/{proxy+}", {"proxy": "cat/1"})
    assert chosen(t, "POST", "/test/5") == ("ANY /{proxy+}", {"proxy": "test/5"})
    assert chosen(t, "GET", "/") == ("$default", {})


def test_literal_beats_parameter_left_to_right_and_method_beats_any():
    t = table("GET /{a}/b", "GET /a/{b}", "ANY /a/{b}")
    assert chosen(t, "GET", "/a/b") == ("GET /a/{b}", {"b": "b"})
    assert chosen(t, "POST", "/a/b") == ("ANY /a/{b}", {"b": "b"})
    assert chosen(t, "GET", "/x/b") == ("GET /{a}/b", {"a": "x"})


def test_longer_greedy_prefix_wins_and_greedy_needs_a_segment():
    t = table("ANY /{proxy+}", "ANY /api/{proxy+}")
    assert chosen(t, "GET", "/api/v1/x") == ("ANY /api/{proxy+}", {"proxy": "v1/x"})
    assert chosen(t, "GET", "/api") == ("ANY /{proxy+}", {"proxy": "api"})
    assert chosen(t, "GET", "/") is None


def test_no_match_and_method_mismatch():
    t = table("GET /items/{id}")
    assert chosen(t, "POST", "/items/1") is None
    assert chosen(t, "GET", "/items") is None
    assert chosen(t, "GET", "/items/1/x") is None
    assert chosen(t, "GET", "/items/") is None


def test_parameters_are_decoded():
    t = table("GET /files/{name}", "GET /raw/{p+}")
    assert chosen(t, "GET", "/files/a%20b") == ("GET /files/{name}", {"name": "a b"})
    assert chosen(t, "GET", "/raw/x%2Fy/z") == ("GET /raw/{p+}", {"p": "x/y/z"})
