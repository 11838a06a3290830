"""Event source mappings: nubis has no queue or stream service yet, so every source is missing and Lambda's
answers for a missing source, an unknown function and an unknown mapping are what a client gets."""
from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, unique

CODE = "def handler(event, context):\n    return 1\n"


def error_of(exc: pytest.ExceptionInfo) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def test_create_event_source_mapping_for_missing_sources(lam):
    name = create_function(lam, CODE)
    cases = {
        "arn:aws:sqs:us-east-1:000000000000:no-such-queue":
            "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
            "SQS Error Message: The specified queue does not exist.",
        "arn:aws:kinesis:us-east-1:000000000000:stream/none":
            "Stream not found: arn:aws:kinesis:us-east-1:000000000000:stream/none",
        "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000":
            "Stream not found: arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000",
    }
    for arn, message in cases.items():
        with pytest.raises(ClientError) as exc:
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        assert error_of(exc) == (400, "InvalidParameterValueException", message)
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(FunctionName=unique("missing"),
                                        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:q")
    assert error_of(exc) == (400, "InvalidParameterValueException", "Function does not exist")
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(FunctionName=name)
    assert error_of(exc) == (400, "InvalidParameterValueException", "Unrecognized event source.")
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []


def test_unknown_event_source_mapping(lam):
    missing = str(uuid.uuid4())
    for call in (lambda: lam.get_event_source_mapping(UUID=missing),
                 lambda: lam.update_event_source_mapping(UUID=missing, BatchSize=5),
                 lambda: lam.delete_event_source_mapping(UUID=missing)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (404, "ResourceNotFoundException", "The resource you requested does not exist.")
