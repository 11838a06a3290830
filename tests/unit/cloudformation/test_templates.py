"""Template reading, intrinsic functions, conditions, parameters and TemplateURL forms."""
from __future__ import annotations

import pytest

from nubis.server.errors import AwsError
from nubis.services.cloudformation.errors import TemplateError
from nubis.services.cloudformation.intrinsics import NO_VALUE, Resolver, evaluate_conditions, references
from nubis.services.cloudformation.plan import build
from nubis.services.cloudformation.sources import s3_location
from nubis.services.cloudformation.template import check_shape, parse_body, resolve_parameters
from nubis.services.cloudformation.yaml_loader import load_yaml


def test_yaml_short_forms_and_dates() -> None:
    doc = load_yaml("""
AWSTemplateFormatVersion: 2010-09-09
A: !GetAtt Fn.Arn
B: !GetAtt [Fn, Arn]
C: !Sub "${X}"
D: !If [Cond, !Ref X, !Ref "AWS::NoValue"]
E: !Join
  - ""
  - [a, !Select [0, !GetAZs ""]]
F: !Condition Other
G: !GetAtt Res.Nested.Attr
""")
    assert doc["AWSTemplateFormatVersion"] == "2010-09-09"  # not a date
    assert doc["A"] == doc["B"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert doc["C"] == {"Fn::Sub": "${X}"}
    assert doc["D"] == {"Fn::If": ["Cond", {"Ref": "X"}, {"Ref": "AWS::NoValue"}]}
    assert doc["E"] == {"Fn::Join": ["", ["a", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}]]}
    assert doc["F"] == {"Condition": "Other"}
    assert doc["G"] == {"Fn::GetAtt": ["Res", "Nested.Attr"]}


def test_parse_errors_in_cloudformation_words() -> None:
    with pytest.raises(TemplateError, match=r"^YAML not well-formed. \(line 1, column"):
        parse_body("a: [b")
    with pytest.raises(TemplateError, match=r"^JSON not well-formed. \(line 1, column 2\)"):
        parse_body("{x")
    with pytest.raises(TemplateError, match="Invalid template property or properties \\[Globals\\]"):
        check_shape({"Globals": {}, "Resources": {"A": {"Type": "AWS::SNS::Topic"}}})
    check_shape({"Transform": "AWS::Serverless-2016-10-31", "Globals": {},
                 "Resources": {"A": {"Type": "AWS::SNS::Topic"}}})
    with pytest.raises(TemplateError, match="Every Resources object must contain a Type member"):
        check_shape({"Resources": {"A": {}}})
    with pytest.raises(TemplateError, match="Resource name A-b is non alphanumeric"):
        check_shape({"Resources": {"A-b": {"Type": "AWS::SNS::Topic"}}})


def resolver(**kw) -> Resolver:
    attrs = {("Fn", "Arn"): "arn:fn", ("Fn", "Nested.Attr"): "n"}
    return Resolver(params={"AWS::Region": "eu-west-1", "Env": "dev", "List": ["a", "b"]},
                    mappings={"M": {"eu-west-1": {"Size": 512}}}, conditions={"Yes": True, "No": False},
                    ref=lambda n: f"phys-{n}", get_att=lambda n, a: attrs[(n, a)], resources={"Fn", "Bucket"}, **kw)


@pytest.mark.parametrize("value, expected", [
    ({"Ref": "Env"}, "dev"),
    ({"Ref": "Bucket"}, "phys-Bucket"),
    ({"Fn::GetAtt": ["Fn", "Arn"]}, "arn:fn"),
    ({"Fn::GetAtt": "Fn.Arn"}, "arn:fn"),
    ({"Fn::Sub": "${Env}/${Bucket}/${Fn.Arn}/${!Literal}/${AWS::Region}"}, "dev/phys-Bucket/arn:fn/${Literal}/eu-west-1"),
    ({"Fn::Sub": ["${A}-${Env}", {"A": {"Ref": "Bucket"}}]}, "phys-Bucket-dev"),
    ({"Fn::Join": ["-", [{"Ref": "Env"}, "x", {"Fn::Select": [1, {"Ref": "List"}]}]]}, "dev-x-b"),
    ({"Fn::Split": [",", "a,b,,c"]}, ["a", "b", "", "c"]),
    ({"Fn::Select": ["0", {"Fn::Split": [",", "a,b"]}]}, "a"),
    ({"Fn::If": ["Yes", "y", "n"]}, "y"),
    ({"Fn::If": ["No", "y", {"Ref": "AWS::NoValue"}]}, NO_VALUE),
    ({"Fn::Equals": [{"Ref": "Env"}, "dev"]}, True),
    ({"Fn::And": [{"Condition": "Yes"}, {"Fn::Not": [{"Condition": "No"}]}]}, True),
    ({"Fn::Or": [{"Condition": "No"}, {"Fn::Equals": ["a", "b"]}]}, False),
    ({"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "Size"]}, 512),
    ({"Fn::FindInMap": ["M", "nowhere", "Size", {"DefaultValue": 1}]}, 1),
    ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ({"Fn::Base64": "abc"}, "YWJj"),
    ({"A": {"Ref": "AWS::NoValue"}, "B": [1, {"Ref": "AWS::NoValue"}, 2]}, {"B": [1, 2]}),
])
def test_intrinsics(value, expected) -> None:
    assert resolver().resolve(value) == expected


@pytest.mark.parametrize("value, message", [
    ({"Ref": "Nope"}, "Unresolved resource dependencies [Nope]"),
    ({"Fn::GetAtt": ["Nope", "Arn"]}, "references undefined resource Nope"),
    ({"Fn::Select": [5, ["a"]]}, "Fn::Select cannot select nonexistent value at index 5"),
    ({"Fn::FindInMap": ["M", "x", "y"]}, "Unable to get mapping for M::x::y"),
    ({"Fn::Join": ["-", "notalist"]}, "every Fn::Join object requires two parameters"),
    ({"Fn::If": ["Missing", 1, 2]}, "Unresolved condition dependency Missing"),
])
def test_intrinsic_errors(value, message) -> None:
    with pytest.raises(TemplateError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolver().resolve(value)


def test_references_find_dependencies() -> None:
    value = {"A": {"Ref": "Bucket"}, "B": {"Fn::Sub": "${Fn.Arn} ${Env} ${!Bucket}"},
             "C": {"Fn::Sub": ["${X}", {"X": {"Fn::GetAtt": ["Other", "Arn"]}}]}}
    assert references(value, {"Bucket", "Fn", "Other"}) == {"Bucket", "Fn", "Other"}


def test_conditions_can_name_conditions_and_cycles_fail() -> None:
    doc = {"Conditions": {"A": {"Fn::Equals": [{"Ref": "P"}, "x"]}, "B": {"Fn::Not": [{"Condition": "A"}]}}}
    assert evaluate_conditions(doc, {"P": "x"}, {}) == {"A": True, "B": False}
    with pytest.raises(TemplateError, match="Circular dependency between conditions"):
        evaluate_conditions({"Conditions": {"A": {"Condition": "B"}, "B": {"Condition": "A"}}}, {}, {})


def test_plan_order_and_cycles() -> None:
    doc = {"Resources": {
        "C": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Fn::GetAtt": ["B", "TopicName"]}}},
        "B": {"Type": "AWS::SNS::Topic", "DependsOn": "A"},
        "A": {"Type": "AWS::SNS::Topic"},
        "Skipped": {"Type": "AWS::SNS::Topic", "Condition": "Never"}},
        "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}}}
    plan = build(doc, {}, {"AWS::Region": "us-east-1"})
    assert plan.order == ["A", "B", "C"]
    with pytest.raises(TemplateError, match="Unresolved resource dependencies \\[Ghost\\]"):
        build({"Resources": {"A": {"Type": "AWS::SNS::Topic", "DependsOn": ["Ghost"]}}}, {}, {})
    sub = {"Fn::Sub": "${Ghost}-${AWS::Region}-${A.TopicName}-${!Literal}"}
    with pytest.raises(TemplateError, match="Unresolved resource dependencies \\[Ghost\\]"):
        build({"Resources": {"A": {"Type": "AWS::SNS::Topic"},
                             "B": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": sub}}}}, {}, {})
    bound = {"Fn::Sub": ["${Ghost}-${AWS::Region}", {"Ghost": "x"}]}
    assert build({"Resources": {"B": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": bound}}}}, {},
                 {"AWS::Region": "us-east-1"}).order == ["B"]


def test_parameters() -> None:
    doc = {"Parameters": {"N": {"Type": "Number", "MinValue": 1, "MaxValue": 5, "Default": 2},
                          "L": {"Type": "CommaDelimitedList", "Default": "a, b"},
                          "S": {"Type": "String", "NoEcho": True, "AllowedPattern": "[a-z]+"}}}
    p = resolve_parameters(doc, [{"ParameterKey": "S", "ParameterValue": "abc"}])
    assert p.values == {"N": "2", "L": ["a", "b"], "S": "abc"} and p.no_echo == {"S"}
    assert p.described()[2] == {"ParameterKey": "S", "ParameterValue": "****"}
    for given, message in ((["N", "9"], "Parameter 'N' must be a number not greater than 5"),
                           (["N", "x"], "Parameter 'N' must be a number not x"),
                           (["S", "ABC"], "Parameter 'S' must match pattern [a-z]+")):
        with pytest.raises(AwsError) as e:
            resolve_parameters(doc, [{"ParameterKey": given[0], "ParameterValue": given[1]},
                                     {"ParameterKey": "S", "ParameterValue": "ok"}][:1 if given[0] == "S" else 2])
        assert e.value.message == message
    with pytest.raises(AwsError, match="Cannot specify usePreviousValue"):
        resolve_parameters(doc, [{"ParameterKey": "S", "UsePreviousValue": True}])
    assert resolve_parameters(doc, [{"ParameterKey": "S", "UsePreviousValue": True}], {"S": "old"}).raw["S"] == "old"


@pytest.mark.parametrize("url, expected", [
    ("s3://b/k/x.yaml", ("b", "k/x.yaml")),
    ("http://127.0.0.1:8750/b/k.json", ("b", "k.json")),
    ("https://s3.amazonaws.com/b/k", ("b", "k")),
    ("https://s3.eu-west-1.amazonaws.com/b/k", ("b", "k")),
    ("https://b.s3.amazonaws.com/dir/k", ("b", "dir/k")),
    ("https://b.s3.us-west-2.amazonaws.com/k%20x", ("b", "k x")),
    ("http://b.s3.localhost:8750/k", ("b", "k")),
    ("ftp://b/k", None),
    ("https://host/only-bucket", None),
])
def test_template_url_forms(url, expected) -> None:
    assert s3_location(url) == expected


def test_sam_transform_runs_offline_and_refuses_repository_applications() -> None:
    from nubis.services.cloudformation.sam import _no_sar_client, expand
    doc = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {
        "F": {"Type": "AWS::Serverless::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "index.handler", "InlineCode": "x",
            "Policies": ["AWSLambdaBasicExecutionRole", "SomeUnknownPolicyName"],
            "Events": {"Get": {"Type": "HttpApi", "Properties": {"Path": "/a", "Method": "GET"}}}}}}}
    out = expand(doc, {}, "eu-west-1", "123456789012", "stack")
    assert out["Resources"]["F"]["Type"] == "AWS::Lambda::Function"
    assert out["Resources"]["ServerlessHttpApi"]["Type"] == "AWS::ApiGatewayV2::Api"
    app = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {"App": {
        "Type": "AWS::Serverless::Application",
        "Properties": {"Location": {"ApplicationId": "arn:aws:serverlessrepo:us-east-1:1:applications/x",
                                    "SemanticVersion": "1.0.0"}}}}}
    with pytest.raises(TemplateError, match=r"Resource with id \[App\] is invalid. nubis has no Serverless"):
        expand(app, {}, "us-east-1", "123456789012", "stack")
    with pytest.raises(Exception, match="nubis has no Serverless Application Repository"):
        _no_sar_client()
