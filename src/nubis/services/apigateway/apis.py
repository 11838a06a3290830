"""CreateRestApi, GetRestApi(s), UpdateRestApi, DeleteRestApi, models and tags."""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

import orjson

from ...server.context import RequestContext
from .errors import MODEL, TAGGED, bad_request, conflict, found, not_found
from .patch import apply_patch
from .store import ROOT_ID_LEN, SHORT_ID_LEN, RestApiRecord, new_id, now

if TYPE_CHECKING:
    from .provider import ApiGatewayProvider

_TAG_ARN = re.compile(r"arn:aws[a-zA-Z-]*:apigateway:([^:]+)::/(restapis|apikeys|usageplans)/([A-Za-z0-9]+)"
                      r"(?:/stages/([^/]+))?$")
_MODEL_NAME = re.compile(r"[A-Za-z0-9]+")

DEFAULT_MODELS = {
    "Empty": {"contentType": "application/json", "description": "This is a default empty schema model",
              "schema": '{\n  "$schema": "http://json-schema.org/draft-04/schema#",\n  "title" : "Empty Schema",\n'
                        '  "type" : "object"\n}'},
    "Error": {"contentType": "application/json", "description": "This is a default error schema model",
              "schema": '{\n  "$schema" : "http://json-schema.org/draft-04/schema#",\n  "title" : "Error Schema",\n'
                        '  "type" : "object",\n  "properties" : {\n    "message" : { "type" : "string" }\n  }\n}'},
}

REST_API_PATCH = {"name": str, "description": str, "version": str, "binaryMediaTypes": ("set", str),
                  "minimumCompressionSize": int, "apiKeySource": str, "policy": str,
                  "disableExecuteApiEndpoint": bool, "endpointConfiguration": {"types": ("set", str)}}


def paginate(items: list[dict], p: dict) -> dict:
    """GetRestApis/GetResources/...: `limit` (default 25, at most 500) and an opaque `position`."""
    try:
        start = int(p.get("position") or 0)
    except ValueError:
        raise bad_request("Invalid position parameter") from None
    limit = p.get("limit") or 25
    if limit < 1 or limit > 500:
        raise bad_request("The limit must be between 1 and 500")
    out: dict = {"items": items[start:start + limit]}
    if start + limit < len(items):
        out["position"] = str(start + limit)
    return out


class ApiOps:
    async def create_rest_api(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        if not p.get("name"):
            raise bad_request("Invalid REST API name specified: name must be non-empty")
        if p.get("cloneFrom"):
            raise bad_request("cloneFrom is not supported by nubis")
        key_source = p.get("apiKeySource") or "HEADER"
        if key_source not in ("HEADER", "AUTHORIZER"):
            raise bad_request(f"Invalid API key source specified: {key_source}")
        endpoint = copy.deepcopy(p.get("endpointConfiguration") or {"types": ["EDGE"]})
        endpoint.setdefault("types", ["EDGE"])
        endpoint.setdefault("ipAddressType", "ipv4")
        root_id = new_id(ROOT_ID_LEN)
        api = {"id": self.store.new_api_id(), "name": p["name"], "createdDate": now(), "apiKeySource": key_source,
               "endpointConfiguration": endpoint, "disableExecuteApiEndpoint": bool(p.get("disableExecuteApiEndpoint")),
               "rootResourceId": root_id}
        for member in ("description", "version", "minimumCompressionSize", "policy"):
            if p.get(member) is not None:
                api[member] = p[member]
        if p.get("binaryMediaTypes"):
            api["binaryMediaTypes"] = list(p["binaryMediaTypes"])
        if p.get("tags"):
            api["tags"] = dict(p["tags"])
        rec = RestApiRecord(ctx.account, ctx.region, api)
        rec.resources[root_id] = {"id": root_id, "path": "/"}
        for name, model in DEFAULT_MODELS.items():
            rec.models[name] = {"id": new_id(SHORT_ID_LEN), "name": name, **model}
        self.store.save(rec)
        return copy.deepcopy(api)

    async def get_rest_api(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return copy.deepcopy(self.api_record(ctx, p["restApiId"]).api)

    async def get_rest_apis(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        recs = sorted(self.store.list(ctx.account, ctx.region), key=lambda r: (r.api["createdDate"], r.api_id))
        return paginate([copy.deepcopy(r.api) for r in recs], p)

    async def update_rest_api(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        api = copy.deepcopy(rec.api)
        apply_patch(api, p.get("patchOperations") or [], REST_API_PATCH)
        if not api.get("name"):
            raise bad_request("Invalid REST API name specified: name must be non-empty")
        if api.get("apiKeySource") not in ("HEADER", "AUTHORIZER"):
            raise bad_request(f"Invalid API key source specified: {api.get('apiKeySource')}")
        rec.api = api
        self.store.save(rec)
        return copy.deepcopy(api)

    async def delete_rest_api(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self.store.delete(rec)
        self.gateway.forget(rec.api_id)
        return {}

    # -- models (what request validators check bodies against)
    async def create_model(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        name = p["name"]
        if not _MODEL_NAME.fullmatch(name):
            raise bad_request("Model name must be alphanumeric")
        if name in rec.models:
            raise conflict("Model name already exists for this REST API")
        schema = p.get("schema")
        if schema is not None:
            check_schema(schema)
        model = {"id": new_id(SHORT_ID_LEN), "name": name, "contentType": p["contentType"]}
        for member in ("description", "schema"):
            if p.get(member) is not None:
                model[member] = p[member]
        rec.models[name] = model
        self.store.save(rec)
        return dict(model)

    def model(self, rec: RestApiRecord, name: str) -> dict:
        return found(rec.models.get(name), MODEL)

    async def get_model(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return dict(self.model(self.api_record(ctx, p["restApiId"]), p["modelName"]))

    async def get_models(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        return paginate([dict(m) for m in rec.models.values()], p)

    async def update_model(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        model = dict(self.model(rec, p["modelName"]))
        apply_patch(model, p.get("patchOperations") or [], {"description": str, "schema": str})
        if model.get("schema") is not None:
            check_schema(model["schema"])
        rec.models[model["name"]] = model
        self.store.save(rec)
        return dict(model)

    async def delete_model(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self.model(rec, p["modelName"])
        for resource in rec.resources.values():
            for method in (resource.get("resourceMethods") or {}).values():
                if p["modelName"] in (method.get("requestModels") or {}).values():
                    raise conflict(f"Cannot delete model '{p['modelName']}', is referenced in method request: "
                                   f"{resource['path']}/{method['httpMethod']}")
        del rec.models[p["modelName"]]
        self.store.save(rec)
        return {}

    # -- tags
    def _tagged(self: ApiGatewayProvider, ctx: RequestContext, arn: str) -> tuple[dict, object]:
        """(the tagged shape, what to save) for an API, stage, API key or usage plan ARN."""
        m = _TAG_ARN.match(arn)
        if m is None:
            raise bad_request(f"Invalid resource ARN: {arn}")
        missing = TAGGED.format(arn=arn)
        if m.group(1) != ctx.region:
            raise not_found(missing)
        kind, obj_id, stage = m.group(2), m.group(3), m.group(4)
        if kind == "restapis":
            rec = found(self.store.owned(ctx.account, ctx.region, obj_id), missing)
            if stage is not None:
                return found(rec.stages.get(stage), missing), rec
            return rec.api, rec
        store_kind = "apikey" if kind == "apikeys" else "usageplan"
        doc = found(self.store.object(store_kind, ctx.account, ctx.region, obj_id), missing)
        return doc, (store_kind, doc)

    def _save_tagged(self: ApiGatewayProvider, ctx: RequestContext, owner: object) -> None:
        if isinstance(owner, RestApiRecord):
            self.store.save(owner)
        else:
            kind, doc = owner  # type: ignore[misc]
            self.store.put_object(kind, ctx.account, ctx.region, doc)

    async def tag_resource(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        target, owner = self._tagged(ctx, p["resourceArn"])
        target.setdefault("tags", {}).update(p.get("tags") or {})
        self._save_tagged(ctx, owner)
        return {}

    async def untag_resource(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        target, owner = self._tagged(ctx, p["resourceArn"])
        for key in p.get("tagKeys") or []:
            (target.get("tags") or {}).pop(key, None)
        if not target.get("tags"):
            target.pop("tags", None)
        self._save_tagged(ctx, owner)
        return {}

    async def get_tags(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        target, _ = self._tagged(ctx, p["resourceArn"])
        return {"tags": dict(target.get("tags") or {})}


def check_schema(schema: str) -> None:
    try:
        value = orjson.loads(schema)
    except orjson.JSONDecodeError:
        raise bad_request("Invalid model specified: Validation Result: warnings : [], errors : [Invalid model "
                          "schema specified]") from None
    if not isinstance(value, dict):
        raise bad_request("Invalid model specified: Validation Result: warnings : [], errors : [Invalid model "
                          "schema specified]")
