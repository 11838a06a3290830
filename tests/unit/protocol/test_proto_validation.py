"""Constraint checks and the exact ValidationException sentences AWS uses."""
from __future__ import annotations

import pytest

from nubis.server.errors import AwsError
from nubis.server.protocol import Violation, load_service
from nubis.server.protocol.javaregex import compile_java

ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def _create(**overrides):
    params = {"FunctionName": "f", "Role": ROLE, "Code": {"ZipFile": b"z"}, **overrides}
    return {k: v for k, v in params.items() if v is not None}


def _message(op_name: str, params: dict, service: str = "lambda") -> str:
    svc = load_service(service)
    violations = svc.validate(svc.operation(op_name), params)
    err = svc.validation_error(violations)
    assert isinstance(err, AwsError)
    assert (err.code, err.status) == ("ValidationException", 400)
    return err.message


def test_valid_input_has_no_violations():
    svc = load_service("lambda")
    assert svc.validate(svc.operation("CreateFunction"), _create(Runtime="python3.12", MemorySize=128)) == []


def test_role_pattern():
    assert _message("CreateFunction", _create(Role="r1")) == (
        "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {ROLE_PATTERN}")


def test_memory_size_range():
    svc = load_service("lambda")
    maximum = svc.model.shape_for("MemorySize").metadata["max"]
    assert _message("CreateFunction", _create(MemorySize=maximum + 1)) == (
        f"1 validation error detected: Value '{maximum + 1}' at 'memorySize' failed to satisfy constraint: "
        f"Member must have value less than or equal to {maximum}")
    assert _message("CreateFunction", _create(MemorySize=64)).endswith(
        "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128")


def test_missing_required_member():
    assert _message("CreateFunction", _create(FunctionName=None)) == (
        "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: "
        "Member must not be null")


def test_enum():
    svc = load_service("lambda")
    runtimes = svc.model.shape_for("Runtime").enum
    assert _message("CreateFunction", _create(Runtime="cobol")) == (
        "1 validation error detected: Value 'cobol' at 'runtime' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(runtimes)}]")


def test_several_violations_in_member_order():
    msg = _message("CreateFunction", _create(FunctionName=None, Role="r1", Timeout=0))
    assert msg.startswith("3 validation errors detected: Value null at 'functionName' failed")
    parts = msg.split("; ")
    assert [p.split(" at ")[1].split("'")[1] for p in parts] == ["functionName", "role", "timeout"]
    assert parts[2] == ("Value '0' at 'timeout' failed to satisfy constraint: "
                        "Member must have value greater than or equal to 1")


def test_length_and_pattern_both_reported():
    name = "bad name!" * 20
    msg = _message("CreateFunction", _create(FunctionName=name))
    assert msg.startswith("2 validation errors detected: ")
    assert f"Value '{name}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140" in msg
    assert "Member must satisfy regular expression pattern: (arn:" in msg


def test_nested_paths_and_sensitive_values():
    msg = _message("CreateFunction", _create(Environment={"Variables": {"_BAD": "secret"}}))
    assert msg == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
        "[a-zA-Z]([a-zA-Z0-9_])+, Member must not be null]")
    assert "secret" not in msg


def test_nested_structure_member():
    msg = _message("CreateFunction", _create(EphemeralStorage={"Size": 100}))
    assert "Value '100' at 'ephemeralStorage.size' failed to satisfy constraint: " \
           "Member must have value greater than or equal to 512" in msg


def test_list_length_and_element_constraints():
    msg = _message("CreateFunction", _create(Architectures=["x86_64", "arm64"]))
    assert msg == ("1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy "
                   "constraint: Member must have length less than or equal to 1")
    msg = _message("CreateFunction", _create(Architectures=["sparc"]))
    assert msg == ("1 validation error detected: Value '[sparc]' at 'architectures' failed to satisfy constraint: "
                   "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], "
                   "Member must not be null]")


def test_list_of_structures_uses_member_index():
    # DynamoDB: KeySchema is a list of KeySchemaElement structures with required members
    msg = _message("CreateTable", {"TableName": "tbl", "AttributeDefinitions": [],
                                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"KeyType": "RANGE"}]},
                   service="dynamodb")
    assert "Value null at 'keySchema.2.member.attributeName' failed to satisfy constraint: " \
           "Member must not be null" in msg


def test_blob_value_rendered_like_java():
    svc = load_service("lambda")
    violations = [Violation("code.zipFile", b"12345", "Member must have length less than or equal to 1")]
    assert "Value 'java.nio.HeapByteBuffer[pos=0 lim=5 cap=5]' at 'code.zipFile'" in \
        svc.validation_error(violations).message


def test_invoke_params_validate_cleanly():
    svc = load_service("lambda")
    op = svc.operation("Invoke")
    ok = {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
          "InvocationType": "Event", "Payload": b"{}"}
    assert svc.validate(op, ok) == []
    bad = svc.validate(op, {**ok, "InvocationType": "Later"})
    assert [v.path for v in bad] == ["invocationType"]


@pytest.mark.parametrize("pattern,good,bad", [
    (ROLE_PATTERN, "arn:aws:iam::123456789012:role/x", "r1"),
    (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", "héllo wörld 42", "a!"),
    (r"^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]*$", "mine:x", "aws:x"),
    (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "ok 😀\t", "bad\x01"),
    (r"^[a-zA-Z0-9\s-_()\[\]]+$", "a-b [c]", "a/b"),
    (r"[\P{C}\s]+", "text\n", "\x00"),
    (r"\p{Alnum}+\z", "abc1", "abc-"),
    (r"\QC:\E\w+", "C:x", "Cx"),
    (r"(?<name>a)b", "ab", "b"),
])
def test_java_regex_translation(pattern, good, bad):
    rx = compile_java(pattern)
    assert rx is not None
    assert rx.fullmatch(good)
    assert not rx.fullmatch(bad)


def test_untranslatable_patterns_are_skipped():
    assert compile_java(r"[\p{Print}&&[^|:/]]+") is None
    assert compile_java(r"^[-_a-zA-Z0-9]*${2,64}$") is None


def test_every_model_pattern_translates_or_is_skipped():
    from botocore.loaders import Loader

    loader = Loader()
    for name in ["lambda", "logs", "s3", "sqs", "sns", "dynamodb", "stepfunctions", "events", "iam", "cognito-idp"]:
        for shape in loader.load_service_model(name, "service-2")["shapes"].values():
            if "pattern" in shape:
                compile_java(shape["pattern"])  # must never raise
