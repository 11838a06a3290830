"""SQS's errors: the JSON code, the legacy query code botocore reports (x-amzn-query-error), the message."""
from __future__ import annotations

from ...server.errors import AwsError
from ...server.protocol.awsjson import QUERY_ERROR_KEY
from ...server.protocol.sqs_query import ERROR_CODES


def error(code: str, message: str, status: int = 400) -> AwsError:
    """An SQS error; modeled codes carry their legacy query code (QueueDoesNotExist ->
    AWS.SimpleQueueService.NonExistentQueue), which is what botocore shows as Error.Code."""
    legacy = ERROR_CODES.get(code)
    return AwsError(code, message, status, **({QUERY_ERROR_KEY: legacy} if legacy else {}))


def invalid(message: str) -> AwsError:
    return error("InvalidParameterValue", message)


def invalid_value(value: object, parameter: str, reason: str) -> AwsError:
    return invalid(f"Value {value} for parameter {parameter} is invalid. Reason: {reason}")


def missing(parameter: str) -> AwsError:
    return error("MissingParameter", f"The request must contain the parameter {parameter}.")


def no_queue() -> AwsError:
    return error("QueueDoesNotExist", "The specified queue does not exist.")


def bad_receipt(handle: str) -> AwsError:
    return error("ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.')


def unknown_attribute(name: str) -> AwsError:
    return error("InvalidAttributeName", f"Unknown Attribute {name}.")


def bad_attribute_value(name: str) -> AwsError:
    return error("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
