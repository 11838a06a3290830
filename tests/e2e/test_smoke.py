"""The first thing a user does: deploy a function with boto3 and invoke it."""
import json

from nubis_testing import create_function


def test_health(server):
    import urllib.request

    with urllib.request.urlopen(server.endpoint + "/_nubis/health") as resp:
        doc = json.load(resp)
    assert resp.status == 200 and doc["status"] == "ok"
    assert "enforced" in doc["isolation"]


def test_create_and_invoke(lam):
    name = create_function(lam, "def handler(event, context):\n    return {'echo': event, 'fn': context.function_name}\n")
    resp = lam.invoke(FunctionName=name, Payload=b'{"a": 1}')
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    assert json.loads(resp["Payload"].read()) == {"echo": {"a": 1}, "fn": name}
