"""AWS::ApiGatewayV2::* (HTTP and WebSocket APIs) and AWS::ApiGateway::* (REST APIs), through the
API Gateway APIs. An API's `Body` (what SAM generates) is imported by openapi.py."""
from __future__ import annotations

from typing import Any

from .base import Env, Handler, ResourceFailed, Result, api_params, call, quiet, tags_list_to_map
from .openapi import (clear_http_api, clear_rest_api, http_api_settings, import_http_api, import_rest_api,
                      rest_api_settings)

_NF = ("NotFoundException",)


def _body(env: Env, props: dict) -> dict | None:
    if props.get("Body") is not None:
        return props["Body"]
    loc = props.get("BodyS3Location")
    if loc:
        import json

        from ..yaml_loader import load_yaml
        obj = call(env.client("s3"), "get_object", Bucket=loc["Bucket"], Key=loc["Key"],
                   VersionId=loc.get("Version"))
        text = obj["Body"].read().decode("utf-8")
        return json.loads(text) if text.lstrip().startswith("{") else load_yaml(text)
    return None


# -- API Gateway v2
class Api(Handler):
    type = "AWS::ApiGatewayV2::Api"
    tags_map = True
    replace_on = ("ProtocolType",)

    def _attrs(self, env: Env, api_id: str) -> dict:
        api = call(env.client("apigatewayv2"), "get_api", ApiId=api_id)
        return {"ApiId": api_id, "ApiEndpoint": api.get("ApiEndpoint", "")}

    def create(self, env: Env, props: dict) -> Result:
        v2 = env.client("apigatewayv2")
        body = _body(env, props)
        if body is not None:
            settings = http_api_settings(body)
            if props.get("Name"):
                settings["Name"] = props["Name"]
            if props.get("CorsConfiguration"):
                settings["CorsConfiguration"] = props["CorsConfiguration"]
            params = {**api_params(v2, "create_api", props, skip=("Name", "CorsConfiguration")), **settings,
                      "ProtocolType": "HTTP"}
            params = api_params(v2, "create_api", params)
            api_id = call(v2, "create_api", **params)["ApiId"]
            try:
                import_http_api(v2, api_id, body)
            except Exception:
                quiet(v2, "delete_api", *_NF, ApiId=api_id)
                raise
        else:
            if "Name" not in props or "ProtocolType" not in props:
                missing = "Name" if "Name" not in props else "ProtocolType"
                raise ResourceFailed(f"Properties validation failed for resource {env.logical_id} with message: "
                                     f"#: required key [{missing}] not found")
            api_id = call(v2, "create_api", **api_params(v2, "create_api", props))["ApiId"]
        return Result(api_id, self._attrs(env, api_id))

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        v2 = env.client("apigatewayv2")
        body = _body(env, new)
        if body is not None:
            settings = http_api_settings(body)
            if new.get("Name"):
                settings["Name"] = new["Name"]
            call(v2, "update_api", ApiId=physical_id, **api_params(v2, "update_api", {**settings, **{
                k: v for k, v in new.items() if k in ("CorsConfiguration", "Description", "DisableExecuteApiEndpoint")}}))
            if _body(env, old) != body:
                clear_http_api(v2, physical_id)
                import_http_api(v2, physical_id, body)
        else:
            changed = {k: v for k, v in new.items() if old.get(k) != v and k not in ("Tags", "ProtocolType")}
            if changed:
                call(v2, "update_api", ApiId=physical_id, **api_params(v2, "update_api", changed))
        return Result(physical_id, self._attrs(env, physical_id))

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("apigatewayv2"), "delete_api", *_NF, ApiId=physical_id)


class _V2Child(Handler):
    """A sub-resource of an API (route, integration, stage, ...), addressed by ApiId + its own id."""

    tags_map = True

    noun = ""
    id_member = ""
    replace_on = ("ApiId",)

    def create(self, env: Env, props: dict) -> Result:
        v2 = env.client("apigatewayv2")
        out = call(v2, f"create_{self.noun}", **api_params(v2, f"create_{self.noun}", self.prepare(props)))
        pid = out[self.id_member]
        return Result(pid, {f"{self.id_member}": pid})

    def prepare(self, props: dict) -> dict:
        return props

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        v2 = env.client("apigatewayv2")
        new_p = self.prepare(new)
        changed = {k: v for k, v in new_p.items() if self.prepare(old).get(k) != v}
        changed.update(ApiId=new["ApiId"], **{self.id_member: physical_id})
        call(v2, f"update_{self.noun}", **api_params(v2, f"update_{self.noun}", changed))
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("apigatewayv2"), f"delete_{self.noun}", *_NF, ApiId=props["ApiId"],
              **{self.id_member: physical_id})


class Route(_V2Child):
    type = "AWS::ApiGatewayV2::Route"
    required = ("ApiId", "RouteKey")
    noun, id_member = "route", "RouteId"

    def prepare(self, props: dict) -> dict:
        out = dict(props)
        if isinstance(out.get("RequestParameters"), dict):
            out["RequestParameters"] = {k: {"Required": bool((v or {}).get("Required", False))
                                            if isinstance(v, dict) else str(v).lower() == "true"}
                                        for k, v in out["RequestParameters"].items()}
        return out


class Integration(_V2Child):
    type = "AWS::ApiGatewayV2::Integration"
    required = ("ApiId", "IntegrationType")
    noun, id_member = "integration", "IntegrationId"


class Authorizer(_V2Child):
    type = "AWS::ApiGatewayV2::Authorizer"
    required = ("ApiId", "AuthorizerType", "Name")
    noun, id_member = "authorizer", "AuthorizerId"


class Deployment(_V2Child):
    type = "AWS::ApiGatewayV2::Deployment"
    required = ("ApiId",)
    noun, id_member = "deployment", "DeploymentId"
    replace_on = ("ApiId", "StageName")


class Stage(_V2Child):
    type = "AWS::ApiGatewayV2::Stage"
    required = ("ApiId", "StageName")
    noun, id_member = "stage", "StageName"
    replace_on = ("ApiId", "StageName")

    def prepare(self, props: dict) -> dict:
        out = dict(props)
        if "Tags" in out:
            out["Tags"] = tags_list_to_map(out["Tags"])
        return out

    def create(self, env: Env, props: dict) -> Result:
        v2 = env.client("apigatewayv2")
        call(v2, "create_stage", **api_params(v2, "create_stage", self.prepare(props)))
        return Result(props["StageName"], {})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        v2 = env.client("apigatewayv2")
        changed = {k: v for k, v in new.items() if old.get(k) != v and k != "Tags"}
        changed.update(ApiId=new["ApiId"], StageName=physical_id)
        call(v2, "update_stage", **api_params(v2, "update_stage", changed))
        return Result(physical_id, attributes)


# -- API Gateway v1 (REST)
class RestApi(Handler):
    type = "AWS::ApiGateway::RestApi"

    def _attrs(self, env: Env, api_id: str) -> dict:
        items = call(env.client("apigateway"), "get_resources", restApiId=api_id, limit=500)["items"]
        root = next((r["id"] for r in items if r["path"] == "/"), "")
        return {"RestApiId": api_id, "RootResourceId": root}

    def _settings(self, env: Env, props: dict, body: dict | None) -> dict:
        gw = env.client("apigateway")
        settings = rest_api_settings(body) if body is not None else {}
        plain = api_params(gw, "create_rest_api", props, camel=True, skip=("Body", "BodyS3Location", "Tags", "Policy"))
        settings.update(plain)
        if "name" not in settings:
            raise ResourceFailed(f"Properties validation failed for resource {env.logical_id} with message: "
                                 "#: required key [Name] not found")
        tags = tags_list_to_map(props.get("Tags"))
        if tags:
            settings["tags"] = tags
        return settings

    def create(self, env: Env, props: dict) -> Result:
        gw = env.client("apigateway")
        body = _body(env, props)
        api_id = call(gw, "create_rest_api", **self._settings(env, props, body))["id"]
        if body is not None:
            try:
                import_rest_api(gw, api_id, body)
            except Exception:
                quiet(gw, "delete_rest_api", *_NF, restApiId=api_id)
                raise
        return Result(api_id, self._attrs(env, api_id))

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        gw = env.client("apigateway")
        body = _body(env, new)
        settings = self._settings(env, new, body)
        ops = [{"op": "replace", "path": "/name", "value": settings["name"]}]
        if "description" in settings:
            ops.append({"op": "replace", "path": "/description", "value": settings["description"]})
        call(gw, "update_rest_api", restApiId=physical_id, patchOperations=ops)
        if body is not None and body != _body(env, old):
            clear_rest_api(gw, physical_id)
            import_rest_api(gw, physical_id, body)
        return Result(physical_id, self._attrs(env, physical_id))

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("apigateway"), "delete_rest_api", *_NF, restApiId=physical_id)


class RestResource(Handler):
    type = "AWS::ApiGateway::Resource"
    required = ("ParentId", "PathPart", "RestApiId")
    always_replace = True

    def create(self, env: Env, props: dict) -> Result:
        out = call(env.client("apigateway"), "create_resource", restApiId=props["RestApiId"],
                   parentId=props["ParentId"], pathPart=props["PathPart"])
        return Result(out["id"], {"ResourceId": out["id"]})

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("apigateway"), "delete_resource", *_NF, restApiId=props["RestApiId"], resourceId=physical_id)


class Method(Handler):
    type = "AWS::ApiGateway::Method"
    required = ("HttpMethod", "ResourceId", "RestApiId")
    replace_on = ("HttpMethod", "ResourceId", "RestApiId")

    def _put(self, env: Env, props: dict) -> None:
        gw = env.client("apigateway")
        key = {"restApiId": props["RestApiId"], "resourceId": props["ResourceId"],
               "httpMethod": str(props["HttpMethod"]).upper()}
        method = api_params(gw, "put_method", props, camel=True, skip=("RestApiId", "ResourceId", "HttpMethod"))
        method.setdefault("authorizationType", "NONE")
        call(gw, "put_method", **key, **method)
        for resp in props.get("MethodResponses") or []:
            call(gw, "put_method_response", **key, **api_params(gw, "put_method_response", resp, camel=True))
        integ = props.get("Integration")
        if integ:
            params = api_params(gw, "put_integration", integ, camel=True)
            if "integrationHttpMethod" not in params and str(integ.get("Type", "")).upper() in ("AWS", "AWS_PROXY"):
                params["integrationHttpMethod"] = "POST"
            call(gw, "put_integration", **key, **params)
            for resp in integ.get("IntegrationResponses") or []:
                call(gw, "put_integration_response", **key,
                     **api_params(gw, "put_integration_response", resp, camel=True))

    def create(self, env: Env, props: dict) -> Result:
        self._put(env, props)
        return Result(env.physical_name(64), {})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        self.delete(env, physical_id, old, attributes)
        self._put(env, new)
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("apigateway"), "delete_method", *_NF, restApiId=props["RestApiId"],
              resourceId=props["ResourceId"], httpMethod=str(props["HttpMethod"]).upper())


class RestDeployment(Handler):
    type = "AWS::ApiGateway::Deployment"
    required = ("RestApiId",)
    always_replace = True

    def create(self, env: Env, props: dict) -> Result:
        gw = env.client("apigateway")
        params = api_params(gw, "create_deployment", props, camel=True, skip=("StageDescription",))
        out = call(gw, "create_deployment", **params)
        return Result(out["id"], {"DeploymentId": out["id"]})

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        gw = env.client("apigateway")
        api = props["RestApiId"]
        stage = props.get("StageName")
        if stage:  # the stage this deployment made goes with it, unless it moved on to another deployment
            current = quiet(gw, "get_stage", *_NF, restApiId=api, stageName=stage)
            if current and current.get("deploymentId") == physical_id:
                quiet(gw, "delete_stage", *_NF, restApiId=api, stageName=stage)
        quiet(gw, "delete_deployment", *_NF, "BadRequestException", restApiId=api, deploymentId=physical_id)


class RestStage(Handler):
    type = "AWS::ApiGateway::Stage"
    required = ("RestApiId",)
    replace_on = ("RestApiId", "StageName")

    def create(self, env: Env, props: dict) -> Result:
        gw = env.client("apigateway")
        name = props.get("StageName") or env.physical_name(128)
        params = api_params(gw, "create_stage", {**props, "StageName": name}, camel=True, skip=("Tags",))
        tags = tags_list_to_map(props.get("Tags"))
        call(gw, "create_stage", **params, tags=tags or None)
        return Result(name, {})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        ops: list[dict[str, Any]] = []
        if old.get("DeploymentId") != new.get("DeploymentId"):
            ops.append({"op": "replace", "path": "/deploymentId", "value": new["DeploymentId"]})
        if old.get("Description") != new.get("Description"):
            ops.append({"op": "replace", "path": "/description", "value": new.get("Description", "")})
        before, after = old.get("Variables") or {}, new.get("Variables") or {}
        for k in before:
            if k not in after:
                ops.append({"op": "remove", "path": f"/variables/{k}"})
        for k, v in after.items():
            if before.get(k) != v:
                ops.append({"op": "replace", "path": f"/variables/{k}", "value": str(v)})
        if ops:
            call(env.client("apigateway"), "update_stage", restApiId=new["RestApiId"], stageName=physical_id,
                 patchOperations=ops)
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("apigateway"), "delete_stage", *_NF, restApiId=props["RestApiId"], stageName=physical_id)


class RestAuthorizer(Handler):
    type = "AWS::ApiGateway::Authorizer"
    required = ("RestApiId", "Type")
    always_replace = True

    def create(self, env: Env, props: dict) -> Result:
        gw = env.client("apigateway")
        params = api_params(gw, "create_authorizer", props, camel=True)
        params.setdefault("name", env.physical_name(64))
        params["providerARNs"] = props.get("ProviderARNs")
        params = {k: v for k, v in params.items() if v is not None}
        out = call(gw, "create_authorizer", **params)
        return Result(out["id"], {"AuthorizerId": out["id"]})

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("apigateway"), "delete_authorizer", *_NF, restApiId=props["RestApiId"],
              authorizerId=physical_id)


HANDLERS = [Api(), Route(), Integration(), Authorizer(), Deployment(), Stage(), RestApi(), RestResource(), Method(),
            RestDeployment(), RestStage(), RestAuthorizer()]
