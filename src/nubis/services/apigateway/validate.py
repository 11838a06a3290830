"""Request validators: required request parameters, and the body against the method's request model
(JSON Schema draft 4, checked with the `jsonschema` library, as API Gateway's models are)."""
from __future__ import annotations

import logging

import jsonschema
import orjson

from .call import Call
from .gateway_responses import GatewayError

log = logging.getLogger("nubis.apigateway")

_SCHEMAS: dict[str, jsonschema.protocols.Validator] = {}


def _validator(schema_text: str) -> jsonschema.protocols.Validator | None:
    hit = _SCHEMAS.get(schema_text)
    if hit is None:
        try:
            schema = orjson.loads(schema_text)
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
            cls.check_schema(schema)
        except (orjson.JSONDecodeError, jsonschema.SchemaError) as err:
            log.info("model schema is not usable: %s", err)
            return None
        if len(_SCHEMAS) > 500:
            _SCHEMAS.clear()
        hit = _SCHEMAS[schema_text] = cls(schema)
    return hit


def check(call: Call) -> None:
    method = call.match.method
    validator = call.snapshot["validators"].get(method.get("requestValidatorId") or "")
    if validator is None:
        return
    if validator.get("validateRequestParameters"):
        missing = []
        query = call.query()
        for name, required in (method.get("requestParameters") or {}).items():
            if not required:
                continue
            where, _, key = name.removeprefix("method.request.").partition(".")
            if where == "querystring":
                present = bool(query.get(key)) or key in query
            elif where == "header":
                present = call.header(key) is not None
            elif where == "path":
                present = bool(call.match.path_parameters.get(key))
            elif where == "multivaluequerystring":
                present = key in query
            elif where == "multivalueheader":
                present = call.header(key) is not None
            else:
                present = True
            if not present:
                missing.append(key)
        if missing:
            call.error = f"Missing required request parameters: [{', '.join(missing)}]"
            raise GatewayError("BAD_REQUEST_PARAMETERS", call.error)
    if validator.get("validateRequestBody"):
        models = method.get("requestModels") or {}
        media = call.req.headers.get("content-type", "").split(";", 1)[0].strip().lower() or "application/json"
        model_name = next((m for ct, m in models.items() if ct.lower() == media), None) or models.get("$default")
        if not model_name:
            return
        model = call.snapshot["models"].get(model_name)
        if model is None or not model.get("schema"):
            return
        schema = _validator(model["schema"])
        if schema is None:
            return
        try:
            body = orjson.loads(call.req.body or b"null") if call.req.body.strip() else None
        except orjson.JSONDecodeError:
            call.error = "Invalid request body"
            raise GatewayError("BAD_REQUEST_BODY") from None
        errors = sorted(schema.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            call.error = "Invalid request body"
            log.info("API %s: request body fails model %s: %s", call.rec.api_id, model_name, errors[0].message)
            raise GatewayError("BAD_REQUEST_BODY")
