"""The errors API Gateway v2 answers, with the model's shapes (body `{"message": ...}`)."""
from __future__ import annotations

from ...server.errors import AwsError
from ..apigw_common.errors import api_not_found, bad_request, conflict, not_found  # noqa: F401


def route_not_found(route_id: str) -> AwsError:
    return not_found(f"Invalid Route identifier specified {route_id}")


def integration_not_found(integration_id: str) -> AwsError:
    return not_found(f"Invalid Integration identifier specified {integration_id}")


def stage_not_found(stage: str) -> AwsError:
    return not_found(f"Invalid stage identifier specified {stage}")


def deployment_not_found(deployment_id: str) -> AwsError:
    return not_found(f"Invalid Deployment identifier specified {deployment_id}")


def authorizer_not_found(authorizer_id: str) -> AwsError:
    return not_found(f"Invalid Authorizer identifier specified {authorizer_id}")
