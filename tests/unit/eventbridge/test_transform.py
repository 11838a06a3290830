"""InputPath and InputTransformer."""
import json

from nubis.services.eventbridge.transform import target_input

EVENT = {"id": "1", "time": "T", "detail": {"n": 3, "who": 'a "b"', "list": [1, 2], "obj": {"k": "v"}}}


def render(template: str, paths: dict) -> str:
    return target_input({"InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}, EVENT,
                        "arn:r", "r").decode()


def test_input_path_and_constant():
    assert json.loads(target_input({"InputPath": "$.detail.list[1]"}, EVENT, "a", "r")) == 2
    assert target_input({"InputPath": "$.detail.nope"}, EVENT, "a", "r") == b"null"
    assert target_input({"Input": '{"c": 1}'}, EVENT, "a", "r") == b'{"c": 1}'
    assert json.loads(target_input({}, EVENT, "a", "r")) == EVENT


def test_transformer_quotes_and_types():
    out = render('{"msg": "<who> has <n>", "n": <n>, "o": <obj>, "l": <l>, "rule": "<aws.events.rule-name>"}',
                 {"who": "$.detail.who", "n": "$.detail.n", "obj": "$.detail.obj", "l": "$.detail.list"})
    assert json.loads(out) == {"msg": 'a "b" has 3', "n": 3, "o": {"k": "v"}, "l": [1, 2], "rule": "r"}
    assert render("<who> counted <n>", {"who": "$.detail.who", "n": "$.detail.n"}) == 'a "b" counted 3'
    assert json.loads(render('{"x": <gone>}', {"gone": "$.detail.gone"})) == {"x": None}
    assert json.loads(render('{"e": <aws.events.event.json>}', {})) == {"e": EVENT}
