"""The errors the API Gateway (REST) control plane answers, with AWS's messages."""
from __future__ import annotations

from ..apigw_common.errors import api_not_found, bad_request, conflict, found, not_found  # noqa: F401

# AWS's NotFoundException message for each kind of thing a request names that does not exist.
RESOURCE = "Invalid Resource identifier specified {account}:{api_id}:{resource_id}"
METHOD = "Invalid Method identifier specified"
INTEGRATION = "Invalid Integration identifier specified"
RESPONSE = "Invalid Response status code specified"
STAGE = "Invalid Stage identifier specified"
DEPLOYMENT = "Invalid Deployment identifier specified"
AUTHORIZER = "Invalid Authorizer identifier specified"
VALIDATOR = "Invalid Request Validator identifier specified"
MODEL = "Invalid model name specified"
API_KEY = "Invalid API Key identifier specified"
USAGE_PLAN = "Invalid Usage Plan ID specified"
USAGE_PLAN_KEY = "Invalid Usage Plan Key identifier specified"
GATEWAY_RESPONSE = "Invalid Gateway Response identifier specified"
TAGGED = "Invalid resource identifier specified {arn}"
