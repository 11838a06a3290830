"""The one ARN reader providers share (services/arns.py) and Lambda's function/layer ARNs built on it."""
import pytest

from nubis.server.errors import AwsError
from nubis.services.arns import Arn, parse_arn
from nubis.services.lambda_.layers import parse_layer_version_arn
from nubis.services.lambda_.names import FunctionRef, parse_function_arn


def test_parse_arn_parts_and_service_filter():
    assert parse_arn("arn:aws:sqs:us-east-1:000000000000:jobs") == Arn("aws", "sqs", "us-east-1", "000000000000", "jobs")
    arn = parse_arn("arn:aws:lambda:eu-west-1:123456789012:function:f:live", "lambda")
    assert arn is not None and arn.resource == "function:f:live" and arn.typed("function") == "f:live"
    assert arn.typed("layer") is None
    assert parse_arn("arn:aws-cn:s3:::bucket").service == "s3"  # S3 ARNs have no region or account
    assert parse_arn("arn:aws:sqs:us-east-1:000000000000:jobs", "sns") is None
    for bad in ("", None, "arn:aws:sqs:us-east-1:000000000000", "urn:aws:sqs:r:a:q", "arn:gcp:sqs:r:a:q", "jobs"):
        assert parse_arn(bad) is None, bad


def test_function_and_layer_arns():
    assert parse_function_arn("arn:aws:lambda:us-east-1:000000000000:function:f") == \
        FunctionRef("f", None, "000000000000", "us-east-1")
    assert parse_function_arn("arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST").qualifier == "$LATEST"
    assert parse_function_arn("arn:aws:lambda:us-east-1:000000000000:layer:x:1") is None
    assert parse_function_arn("arn:aws:sqs:us-east-1:000000000000:function:f") is None
    with pytest.raises(AwsError):
        parse_function_arn("arn:aws:lambda:us-east-1:000000000000:function:bad name")
    assert parse_layer_version_arn("arn:aws:lambda:us-east-1:000000000000:layer:lib:3") == \
        ("000000000000", "us-east-1", "lib", 3)
    for bad in ("arn:aws:lambda:us-east-1:000000000000:layer:lib", "arn:aws:lambda:us-east-1:000000000000:layer:lib:x",
                "arn:aws:lambda:us-east-1:000000000000:layer:lib:3:4", "arn:aws:lambda:us-east-1:0:function:lib:3"):
        assert parse_layer_version_arn(bad) is None, bad
