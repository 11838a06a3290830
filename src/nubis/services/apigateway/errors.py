"""The errors the API Gateway (REST) control plane answers, with AWS's messages."""
from __future__ import annotations

from ...server.errors import AwsError
from ..apigw_common.errors import api_not_found, bad_request, conflict, not_found  # noqa: F401


def resource_not_found(account: str, api_id: str, resource_id: str) -> AwsError:
    return not_found(f"Invalid Resource identifier specified {account}:{api_id}:{resource_id}")


def method_not_found() -> AwsError:
    return not_found("Invalid Method identifier specified")


def integration_not_found() -> AwsError:
    return not_found("Invalid Integration identifier specified")


def response_not_found() -> AwsError:
    return not_found("Invalid Response status code specified")


def stage_not_found() -> AwsError:
    return not_found("Invalid Stage identifier specified")


def deployment_not_found() -> AwsError:
    return not_found("Invalid Deployment identifier specified")


def authorizer_not_found() -> AwsError:
    return not_found("Invalid Authorizer identifier specified")


def validator_not_found() -> AwsError:
    return not_found("Invalid Request Validator identifier specified")


def model_not_found() -> AwsError:
    return not_found("Invalid model name specified")


def api_key_not_found() -> AwsError:
    return not_found("Invalid API Key identifier specified")


def usage_plan_not_found() -> AwsError:
    return not_found("Invalid Usage Plan ID specified")
