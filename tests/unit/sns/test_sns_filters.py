"""Filter policies: SNS's operators matched against attributes and bodies, and its validation errors."""
import json

import pytest

from nubis.server.errors import AwsError
from nubis.services.sns.filters import matches_attributes, matches_body, parse_policy


def attrs(**values):
    out = {}
    for name, value in values.items():
        if isinstance(value, list):
            out[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
        elif isinstance(value, (int, float)):
            out[name] = {"DataType": "Number", "StringValue": str(value)}
        elif isinstance(value, bytes):
            out[name] = {"DataType": "Binary", "BinaryValue": "AAE="}
        else:
            out[name] = {"DataType": "String", "StringValue": value}
    return out


def ok(policy, scope="MessageAttributes"):
    return parse_policy(json.dumps(policy), scope, subscribe=False)


@pytest.mark.parametrize("policy, message, expected", [
    ({"color": ["red", "blue"]}, attrs(color="red"), True),
    ({"color": ["red", "blue"]}, attrs(color="green"), False),
    ({"color": ["red"]}, attrs(), False),
    ({"color": ["red"], "size": ["L"]}, attrs(color="red", size="M"), False),
    ({"color": ["red"], "size": ["L"]}, attrs(color="red", size="L"), True),
    ({"color": ["red"]}, attrs(color=["green", "red"]), True),
    ({"price": [100]}, attrs(price=100.0), True),
    ({"price": [100]}, attrs(price="100"), False),
    ({"price": [{"numeric": [">", 0, "<=", 150]}]}, attrs(price=150), True),
    ({"price": [{"numeric": [">", 0, "<=", 150]}]}, attrs(price=150.5), False),
    ({"price": [{"numeric": ["=", 3.5]}]}, attrs(price=3.5), True),
    ({"price": [{"numeric": ["<", 10]}]}, attrs(price="5"), False),
    ({"color": [{"prefix": "re"}]}, attrs(color="red"), True),
    ({"color": [{"suffix": "ed"}]}, attrs(color="red"), True),
    ({"color": [{"suffix": "ed"}]}, attrs(color="blue"), False),
    ({"color": [{"equals-ignore-case": "RED"}]}, attrs(color="Red"), True),
    ({"color": [{"anything-but": ["red", "blue"]}]}, attrs(color="green"), True),
    ({"color": [{"anything-but": ["red", "blue"]}]}, attrs(color="red"), False),
    ({"color": [{"anything-but": "red"}]}, attrs(), False),
    ({"color": [{"anything-but": {"prefix": "re"}}]}, attrs(color="red"), False),
    ({"color": [{"anything-but": {"prefix": "re"}}]}, attrs(color="blue"), True),
    ({"price": [{"anything-but": [100]}]}, attrs(price=101), True),
    ({"color": [{"exists": True}]}, attrs(color="x"), True),
    ({"color": [{"exists": True}]}, attrs(), False),
    ({"color": [{"exists": False}]}, attrs(), True),
    ({"color": [{"exists": False}]}, attrs(color="x"), False),
    ({"blob": [{"exists": True}]}, attrs(blob=b"x"), False),  # Binary attributes are not filtered on
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, attrs(ip="10.0.0.7"), True),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, attrs(ip="10.0.1.7"), False),
    ({"$or": [{"color": ["red"]}, {"size": ["L"]}]}, attrs(size="L"), True),
    ({"$or": [{"color": ["red"]}, {"size": ["L"]}]}, attrs(size="M"), False),
    ({"kind": ["a"], "$or": [{"color": ["red"]}, {"size": ["L"]}]}, attrs(kind="b", size="L"), False),
])
def test_attribute_policies(policy, message, expected):
    assert matches_attributes(ok(policy), message) is expected


@pytest.mark.parametrize("policy, body, expected", [
    ({"store": ["example_corp"]}, {"store": "example_corp"}, True),
    ({"customer": {"interests": ["rugby"]}}, {"customer": {"interests": ["football", "rugby"]}}, True),
    ({"customer": {"interests": ["golf"]}}, {"customer": {"interests": ["football", "rugby"]}}, False),
    ({"items": {"sku": [{"prefix": "A-"}]}}, {"items": [{"sku": "B-1"}, {"sku": "A-2"}]}, True),
    ({"price": [{"numeric": [">=", 10]}]}, {"price": 12}, True),
    ({"price": [{"numeric": [">=", 10]}]}, {"price": "12"}, False),
    ({"flag": [True]}, {"flag": True}, True),
    ({"flag": [None]}, {"flag": None}, True),
    ({"a": {"b": [{"exists": False}]}}, {"c": 1}, True),
    ({"a": {"b": [{"exists": True}]}}, {"a": {"b": 0}}, True),
    ({"store": ["x"]}, "not json", False),
])
def test_body_policies(policy, body, expected):
    text = body if isinstance(body, str) else json.dumps(body)
    assert matches_body(ok(policy, "MessageBody"), text) is expected


@pytest.mark.parametrize("policy, scope, message", [
    ({"a": []}, "MessageAttributes", "Empty arrays are not allowed"),
    ({"a": "x"}, "MessageAttributes", '"a" must be an object or an array'),
    ({"a": [{"nope": 1}]}, "MessageAttributes", "Unrecognized match type nope"),
    ({"a": [{"prefix": 1}]}, "MessageAttributes", "prefix match pattern must be a string"),
    ({"a": [{"exists": "yes"}]}, "MessageAttributes", "exists match pattern must be either true or false."),
    ({"a": [{"prefix": "x", "suffix": "y"}]}, "MessageAttributes", "Only one key allowed in match expression"),
    ({"a": [{"numeric": ["<", "x"]}]}, "MessageAttributes", "Value of < must be numeric"),
    ({"a": [{"numeric": ["~", 1]}]}, "MessageAttributes", "Unrecognized numeric range operator: ~"),
    ({"a": [{"numeric": [">", 10, "<", 5]}]}, "MessageAttributes", "Bottom must be less than top"),
    ({"a": [{"numeric": ["<", 10, ">", 5]}]}, "MessageAttributes", "Too many elements in numeric expression"),
    ({"a": [[1]]}, "MessageAttributes", "Match value must be String, number, true, false, or null"),
    ({k: ["x"] for k in "abcdef"}, "MessageAttributes", "Filter policy can not have more than 5 keys"),
    ({"a": list(range(20)), "b": list(range(10))}, "MessageAttributes", "Filter policy is too complex"),
    ({"a": [{"cidr": "10.0.0.1"}]}, "MessageAttributes", "Malformed CIDR, one '/' required"),
])
def test_invalid_policies_are_refused_with_snss_words(policy, scope, message):
    with pytest.raises(AwsError) as info:
        parse_policy(json.dumps(policy), scope, subscribe=False)
    assert info.value.code == "InvalidParameterException"
    assert info.value.message == f"Invalid parameter: FilterPolicy: {message}"
    with pytest.raises(AwsError) as info:
        parse_policy(json.dumps(policy), scope, subscribe=True)
    assert info.value.message == f"Invalid parameter: Attributes Reason: FilterPolicy: {message}"


def test_nested_policies_need_the_body_scope():
    with pytest.raises(AwsError) as info:
        parse_policy('{"a": {"b": ["c"]}}', "MessageAttributes", subscribe=False)
    assert info.value.message == ("Invalid parameter: Filter policy scope MessageAttributes does not support "
                                  "nested filter policy")
    assert parse_policy('{"a": {"b": ["c"]}}', "MessageBody", subscribe=False) == {"a": {"b": ["c"]}}


def test_unparsable_and_empty_policies():
    with pytest.raises(AwsError) as info:
        parse_policy("{nope", "MessageAttributes", subscribe=False)
    assert info.value.message == "Invalid parameter: FilterPolicy: failed to parse JSON."
    assert parse_policy("", "MessageAttributes", subscribe=False) is None
    assert parse_policy("{}", "MessageAttributes", subscribe=False) is None
