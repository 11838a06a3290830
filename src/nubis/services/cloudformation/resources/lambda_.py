"""AWS::Lambda::* resource types, through the Lambda API."""
from __future__ import annotations

import io
import zipfile
from typing import Any

from .base import Env, Handler, ResourceFailed, Result, call, integer, quiet, tags_list_to_map, wait_until

_NOT_FOUND = ("ResourceNotFoundException",)
_CONFIG_KEYS = ("Role", "Handler", "Description", "Timeout", "MemorySize", "VpcConfig", "Environment", "Runtime",
                "DeadLetterConfig", "KmsKeyArn", "TracingConfig", "Layers", "FileSystemConfigs", "ImageConfig",
                "EphemeralStorage", "SnapStart", "LoggingConfig")
# What a property removed from the template goes back to (Lambda's defaults); LoggingConfig: _logging_config.
_CONFIG_DEFAULTS: dict[str, Any] = {"Environment": {"Variables": {}}, "Description": "", "Layers": [],
                                     "Timeout": 3, "MemorySize": 128, "DeadLetterConfig": {},
                                     "TracingConfig": {"Mode": "PassThrough"}, "EphemeralStorage": {"Size": 512},
                                     "SnapStart": {"ApplyOn": "None"}, "KmsKeyArn": "", "FileSystemConfigs": [],
                                     "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}}
# Template property names that the Lambda API spells differently.
_API_NAMES = {"KmsKeyArn": "KMSKeyArn"}


def _api(params: dict) -> dict:
    """Template properties as Lambda API parameters."""
    return {_API_NAMES.get(k, k): v for k, v in params.items()}


def _logging_config(props: dict, name: str) -> dict:
    """The whole LoggingConfig the template asks for, defaults filled in (Text, /aws/lambda/<name>, INFO
    levels with JSON), so a field removed from the template is reset rather than kept."""
    given = dict(props.get("LoggingConfig") or {})
    out = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}", **given}
    if out["LogFormat"] == "JSON":
        out = {"ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO", **out}
    return out


def _inline_zip(runtime: str, source: str) -> bytes:
    """CloudFormation's Code.ZipFile: the text as index.py / index.js in a package."""
    name = "index.py" if runtime.startswith("python") else "index.js" if runtime.startswith("nodejs") else "index"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o644 << 16
        z.writestr(info, source)
    return buf.getvalue()


def _code(props: dict) -> dict:
    code = dict(props.get("Code") or {})
    out: dict[str, Any] = {}
    if "ZipFile" in code:
        out["ZipFile"] = _inline_zip(str(props.get("Runtime", "")), str(code["ZipFile"]))
    for key in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri"):
        if key in code:
            out[key] = code[key]
    return out


def _wait_ready(env: Env, name: str) -> dict:
    lam = env.client("lambda")
    state: dict = {}

    def ready() -> bool:
        state.update(call(lam, "get_function_configuration", FunctionName=name))
        if state.get("State") == "Failed" or state.get("LastUpdateStatus") == "Failed":
            raise ResourceFailed(f"Resource handler returned message: \"{state.get('StateReason') or state.get('LastUpdateStatusReason')}\"")
        return state.get("State") == "Active" and state.get("LastUpdateStatus") in (None, "Successful")

    wait_until(ready, f"function {name} to become Active")
    return state


def _function_attrs(cfg: dict) -> dict:
    snap = cfg.get("SnapStart") or {}
    return {"Arn": cfg["FunctionArn"], "SnapStartResponse.ApplyOn": snap.get("ApplyOn", "None"),
            "SnapStartResponse.OptimizationStatus": snap.get("OptimizationStatus", "Off")}


class Function(Handler):
    type = "AWS::Lambda::Function"
    required = ("Code", "Role")
    replace_on = ("FunctionName", "PackageType")

    def create(self, env: Env, props: dict) -> Result:
        lam = env.client("lambda")
        name = props.get("FunctionName") or env.physical_name(64)
        params = {k: props[k] for k in _CONFIG_KEYS if k in props}
        call(lam, "create_function", FunctionName=name, Code=_code(props), PackageType=props.get("PackageType"),
             Architectures=props.get("Architectures"), Tags=tags_list_to_map(props.get("Tags")),
             CodeSigningConfigArn=props.get("CodeSigningConfigArn"), **_api(params))
        if "ReservedConcurrentExecutions" in props:
            call(lam, "put_function_concurrency", FunctionName=name,
                 ReservedConcurrentExecutions=integer(props["ReservedConcurrentExecutions"]))
        return Result(name, _function_attrs(_wait_ready(env, name)))

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        lam = env.client("lambda")
        if old.get("Code") != new.get("Code") or old.get("Architectures") != new.get("Architectures"):
            call(lam, "update_function_code", FunctionName=physical_id, Architectures=new.get("Architectures"),
                 **_code(new))
            _wait_ready(env, physical_id)
        changed = {k: new.get(k, _CONFIG_DEFAULTS.get(k)) for k in _CONFIG_KEYS if old.get(k) != new.get(k)}
        changed = {k: v for k, v in changed.items() if v is not None}
        if old.get("LoggingConfig") != new.get("LoggingConfig"):
            changed["LoggingConfig"] = _logging_config(new, physical_id)
        if changed:
            call(lam, "update_function_configuration", FunctionName=physical_id, **_api(changed))
            _wait_ready(env, physical_id)
        if old.get("ReservedConcurrentExecutions") != new.get("ReservedConcurrentExecutions"):
            if "ReservedConcurrentExecutions" in new:
                call(lam, "put_function_concurrency", FunctionName=physical_id,
                     ReservedConcurrentExecutions=integer(new["ReservedConcurrentExecutions"]))
            else:
                call(lam, "delete_function_concurrency", FunctionName=physical_id)
        if old.get("Tags") != new.get("Tags"):
            arn = attributes.get("Arn") or env.arn("lambda", f"function:{physical_id}")
            before, after = tags_list_to_map(old.get("Tags")) or {}, tags_list_to_map(new.get("Tags")) or {}
            gone = [k for k in before if k not in after]
            if gone:
                call(lam, "untag_resource", Resource=arn, TagKeys=gone)
            if after:
                call(lam, "tag_resource", Resource=arn, Tags=after)
        return Result(physical_id, _function_attrs(_wait_ready(env, physical_id)))

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("lambda"), "delete_function", *_NOT_FOUND, FunctionName=physical_id)


class Permission(Handler):
    type = "AWS::Lambda::Permission"
    required = ("Action", "FunctionName", "Principal")
    always_replace = True

    def create(self, env: Env, props: dict) -> Result:
        sid = env.physical_name(100)
        call(env.client("lambda"), "add_permission", FunctionName=props["FunctionName"], StatementId=sid,
             Action=props["Action"], Principal=props["Principal"], SourceArn=props.get("SourceArn"),
             SourceAccount=props.get("SourceAccount"), EventSourceToken=props.get("EventSourceToken"),
             PrincipalOrgID=props.get("PrincipalOrgID"), FunctionUrlAuthType=props.get("FunctionUrlAuthType"))
        return Result(sid, {})

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("lambda"), "remove_permission", *_NOT_FOUND, FunctionName=props["FunctionName"],
              StatementId=physical_id)


class Version(Handler):
    type = "AWS::Lambda::Version"
    required = ("FunctionName",)
    always_replace = True

    def create(self, env: Env, props: dict) -> Result:
        lam = env.client("lambda")
        _wait_ready(env, props["FunctionName"])
        out = call(lam, "publish_version", FunctionName=props["FunctionName"], Description=props.get("Description"),
                   CodeSha256=props.get("CodeSha256"))
        if props.get("ProvisionedConcurrencyConfig"):
            call(lam, "put_provisioned_concurrency_config", FunctionName=props["FunctionName"],
                 Qualifier=out["Version"], ProvisionedConcurrentExecutions=integer(
                     props["ProvisionedConcurrencyConfig"]["ProvisionedConcurrentExecutions"]))
        return Result(out["FunctionArn"], {"Version": out["Version"], "FunctionArn": out["FunctionArn"]})

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        function, _, version = physical_id.rpartition(":")
        quiet(env.client("lambda"), "delete_function", *_NOT_FOUND, FunctionName=function, Qualifier=version)


class Alias(Handler):
    type = "AWS::Lambda::Alias"
    required = ("FunctionName", "FunctionVersion", "Name")
    replace_on = ("FunctionName", "Name")

    @staticmethod
    def _routing(props: dict) -> dict | None:
        weights = (props.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
        if not weights:
            return None if "RoutingConfig" not in props else {"AdditionalVersionWeights": {}}
        return {"AdditionalVersionWeights": {str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in weights}}

    def _provisioned(self, env: Env, props: dict) -> None:
        pc = props.get("ProvisionedConcurrencyConfig")
        if pc:
            call(env.client("lambda"), "put_provisioned_concurrency_config", FunctionName=props["FunctionName"],
                 Qualifier=props["Name"], ProvisionedConcurrentExecutions=integer(pc["ProvisionedConcurrentExecutions"]))

    def create(self, env: Env, props: dict) -> Result:
        out = call(env.client("lambda"), "create_alias", FunctionName=props["FunctionName"], Name=props["Name"],
                   FunctionVersion=str(props["FunctionVersion"]), Description=props.get("Description"),
                   RoutingConfig=self._routing(props))
        self._provisioned(env, props)
        return Result(out["AliasArn"], {"AliasArn": out["AliasArn"]})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        call(env.client("lambda"), "update_alias", FunctionName=new["FunctionName"], Name=new["Name"],
             FunctionVersion=str(new["FunctionVersion"]), Description=new.get("Description", ""),
             RoutingConfig=self._routing(new) or {"AdditionalVersionWeights": {}})
        if old.get("ProvisionedConcurrencyConfig") != new.get("ProvisionedConcurrencyConfig"):
            if new.get("ProvisionedConcurrencyConfig"):
                self._provisioned(env, new)
            else:
                quiet(env.client("lambda"), "delete_provisioned_concurrency_config", *_NOT_FOUND,
                      FunctionName=new["FunctionName"], Qualifier=new["Name"])
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("lambda"), "delete_alias", *_NOT_FOUND, FunctionName=props["FunctionName"], Name=props["Name"])


class LayerVersion(Handler):
    type = "AWS::Lambda::LayerVersion"
    required = ("Content",)
    always_replace = True

    def create(self, env: Env, props: dict) -> Result:
        content = {k: v for k, v in (props.get("Content") or {}).items() if k in ("S3Bucket", "S3Key", "S3ObjectVersion")}
        out = call(env.client("lambda"), "publish_layer_version", LayerName=props.get("LayerName") or env.logical_id,
                   Content=content, Description=props.get("Description"),
                   CompatibleRuntimes=props.get("CompatibleRuntimes"), LicenseInfo=props.get("LicenseInfo"),
                   CompatibleArchitectures=props.get("CompatibleArchitectures"))
        return Result(out["LayerVersionArn"], {"LayerVersionArn": out["LayerVersionArn"]})

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        layer, _, number = physical_id.rpartition(":")
        quiet(env.client("lambda"), "delete_layer_version", *_NOT_FOUND, LayerName=layer, VersionNumber=int(number))


class Url(Handler):
    type = "AWS::Lambda::Url"
    required = ("AuthType", "TargetFunctionArn")
    replace_on = ("TargetFunctionArn", "Qualifier")

    def create(self, env: Env, props: dict) -> Result:
        out = call(env.client("lambda"), "create_function_url_config", FunctionName=props["TargetFunctionArn"],
                   Qualifier=props.get("Qualifier"), AuthType=props["AuthType"], Cors=props.get("Cors"),
                   InvokeMode=props.get("InvokeMode"))
        return Result(out["FunctionArn"], {"FunctionArn": out["FunctionArn"], "FunctionUrl": out["FunctionUrl"]})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        out = call(env.client("lambda"), "update_function_url_config", FunctionName=new["TargetFunctionArn"],
                   Qualifier=new.get("Qualifier"), AuthType=new["AuthType"], Cors=new.get("Cors") or {},
                   InvokeMode=new.get("InvokeMode"))
        return Result(physical_id, {"FunctionArn": out["FunctionArn"], "FunctionUrl": out["FunctionUrl"]})

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("lambda"), "delete_function_url_config", *_NOT_FOUND, FunctionName=props["TargetFunctionArn"],
              Qualifier=props.get("Qualifier"))


class EventInvokeConfig(Handler):
    type = "AWS::Lambda::EventInvokeConfig"
    required = ("FunctionName", "Qualifier")
    replace_on = ("FunctionName", "Qualifier")

    def create(self, env: Env, props: dict) -> Result:
        call(env.client("lambda"), "put_function_event_invoke_config", FunctionName=props["FunctionName"],
             Qualifier=props["Qualifier"], MaximumRetryAttempts=integer(props.get("MaximumRetryAttempts")),
             MaximumEventAgeInSeconds=integer(props.get("MaximumEventAgeInSeconds")),
             DestinationConfig=props.get("DestinationConfig"))
        return Result(f"{props['FunctionName']}:{props['Qualifier']}", {})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        return self.create(env, new)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("lambda"), "delete_function_event_invoke_config", *_NOT_FOUND,
              FunctionName=props["FunctionName"], Qualifier=props["Qualifier"])


_ESM_KEYS = ("Enabled", "BatchSize", "MaximumBatchingWindowInSeconds", "DestinationConfig", "MaximumRecordAgeInSeconds",
             "BisectBatchOnFunctionError", "MaximumRetryAttempts", "ParallelizationFactor", "FunctionResponseTypes",
             "ScalingConfig", "FilterCriteria", "TumblingWindowInSeconds")


class EventSourceMapping(Handler):
    type = "AWS::Lambda::EventSourceMapping"
    required = ("FunctionName",)
    replace_on = ("EventSourceArn", "StartingPosition", "StartingPositionTimestamp")

    def create(self, env: Env, props: dict) -> Result:
        params = {k: props[k] for k in _ESM_KEYS if k in props}
        out = call(env.client("lambda"), "create_event_source_mapping", FunctionName=props["FunctionName"],
                   EventSourceArn=props.get("EventSourceArn"), StartingPosition=props.get("StartingPosition"),
                   StartingPositionTimestamp=props.get("StartingPositionTimestamp"), **params)
        return Result(out["UUID"], {"Id": out["UUID"], "EventSourceMappingArn": out.get("EventSourceMappingArn", "")})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        params = {k: new[k] for k in _ESM_KEYS if k in new and new.get(k) != old.get(k)}
        call(env.client("lambda"), "update_event_source_mapping", UUID=physical_id, FunctionName=new["FunctionName"],
             **params)
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("lambda"), "delete_event_source_mapping", *_NOT_FOUND, UUID=physical_id)


HANDLERS = [Function(), Permission(), Version(), Alias(), LayerVersion(), Url(), EventInvokeConfig(),
            EventSourceMapping()]
