"""The AWS::Serverless-2016-10-31 transform, by AWS's own translator library (aws-sam-translator).

The translator runs offline: it is given a boto3 Session only for its region (no call is made with it),
the account id as a pseudo parameter, and an empty fallback for managed policy names it does not have
bundled (it would otherwise list IAM policies)."""
from __future__ import annotations

import copy
import logging
import threading
from typing import Any

from .errors import TemplateError

_lock = threading.Lock()  # the translator keeps its region in class attributes
# It warns on every transform that its (AWS-internal) metrics were never published: noise in our log.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
NO_SAR = ("nubis has no Serverless Application Repository: AWS::Serverless::Application with a Location "
          "of ApplicationId and SemanticVersion is not supported")


def _no_sar_client():
    """The translator's Serverless Application Repository client: nubis never lets it reach AWS."""
    from samtranslator.model.exceptions import InvalidResourceException
    raise InvalidResourceException("Application", NO_SAR)


def expand(doc: dict, parameters: dict[str, Any], region: str, account: str, stack_name: str) -> dict:
    """The CloudFormation template a SAM template stands for; TemplateError carries the translator's text."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    for logical_id, res in (doc.get("Resources") or {}).items():
        if isinstance(res, dict) and res.get("Type") == "AWS::Serverless::Application" and \
                isinstance((res.get("Properties") or {}).get("Location"), dict):
            raise TemplateError(f"Transform AWS::Serverless-2016-10-31 failed with: Resource with id [{logical_id}] "
                                f"is invalid. {NO_SAR}", full=True)
    from samtranslator.plugins.application.serverless_app_plugin import ServerlessAppPlugin

    values = {k: v for k, v in parameters.items()}
    values.update({"AWS::Region": region, "AWS::AccountId": account, "AWS::StackName": stack_name})
    with _lock:
        plugins = [ServerlessAppPlugin(sar_client_creator=_no_sar_client, parameters=values)]
        translator = Translator(None, Parser(), plugins=plugins, boto_session=boto3.Session(region_name=region))
        try:
            return translator.translate(copy.deepcopy(doc), parameter_values=values,
                                        get_managed_policy_map=lambda: {})
        except InvalidDocumentException as e:
            causes = " ".join(str(getattr(c, "message", c)) for c in e.causes)
            raise TemplateError(f"Transform AWS::Serverless-2016-10-31 failed with: {e.message} {causes}".strip(),
                                full=True) from None
        except Exception as e:  # the translator's other failures are template problems too
            raise TemplateError(f"Transform AWS::Serverless-2016-10-31 failed with: {e}", full=True) from None
