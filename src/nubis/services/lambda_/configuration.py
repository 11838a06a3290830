"""Building and updating the FunctionConfiguration document from API parameters."""
from __future__ import annotations

import hashlib

from ...server.errors import AwsError
from .code import CodePackage
from .functions import lambda_timestamp, new_revision
from .names import function_arn

# CreateFunction members copied into the configuration as given.
_COPIED = ("Runtime", "Role", "Handler", "Description", "Timeout", "MemorySize", "Environment", "TracingConfig",
           "DeadLetterConfig", "KMSKeyArn", "EphemeralStorage", "Architectures", "LoggingConfig", "SnapStart",
           "VpcConfig", "FileSystemConfigs", "ImageConfig", "Layers", "_NubisLayerDigests")


def runtime_version_arn(region: str, runtime: str) -> str:
    digest = hashlib.sha256(f"nubis:{runtime}".encode()).hexdigest()
    return f"arn:aws:lambda:{region}::runtime:{digest}"


def new_configuration(account: str, region: str, params: dict, code: CodePackage) -> dict:
    name = params["FunctionName"]
    cfg: dict = {
        "FunctionName": name,
        "FunctionArn": function_arn(region, account, name),
        "Runtime": params.get("Runtime"),
        "Role": params["Role"],
        "Handler": params.get("Handler"),
        "CodeSize": code.size,
        "Description": params.get("Description", ""),
        "Timeout": params.get("Timeout", 3),
        "MemorySize": params.get("MemorySize", 128),
        "LastModified": lambda_timestamp(),
        "CodeSha256": code.sha256_b64,
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": new_revision(),
        "State": "Pending",
        "StateReason": "The function is being created.",
        "StateReasonCode": "Creating",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "RuntimeVersionConfig": {"RuntimeVersionArn": runtime_version_arn(region, params.get("Runtime") or "")},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
    }
    for key in _COPIED:
        if key in params and params[key] is not None:
            cfg[key] = params[key]
    _normalise(cfg, params.get("LoggingConfig"))
    return cfg


def apply_update(cfg: dict, params: dict) -> dict:
    """UpdateFunctionConfiguration: any subset of members; Environment.Variables replaced wholesale."""
    out = dict(cfg)
    for key in _COPIED:
        if key in params and params[key] is not None:
            out[key] = params[key]
    if params.get("LoggingConfig") is not None:  # members not given keep their values
        out["LoggingConfig"] = {**(cfg.get("LoggingConfig") or {}), **params["LoggingConfig"]}
    if "Runtime" in params:
        out["RuntimeVersionConfig"] = {"RuntimeVersionArn": runtime_version_arn(
            out["FunctionArn"].split(":")[3], params["Runtime"])}
    _normalise(out, params.get("LoggingConfig"))
    return mark_updating(out)


def apply_code(cfg: dict, code: CodePackage) -> dict:
    out = dict(cfg, CodeSize=code.size, CodeSha256=code.sha256_b64)
    return mark_updating(out)


def mark_updating(cfg: dict) -> dict:
    out = dict(cfg, LastModified=lambda_timestamp(), RevisionId=new_revision(), State="Active",
               LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being created.",
               LastUpdateStatusReasonCode="Creating")
    for key in ("StateReason", "StateReasonCode"):
        out.pop(key, None)
    return out


def mark_ready(cfg: dict) -> dict:
    out = dict(cfg, State="Active", LastUpdateStatus="Successful")
    for key in ("StateReason", "StateReasonCode", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
        out.pop(key, None)
    return out


def mark_failed(cfg: dict, reason: str) -> dict:
    return dict(cfg, State="Failed", StateReason=reason, StateReasonCode="InternalError",
                LastUpdateStatus="Failed", LastUpdateStatusReason=reason, LastUpdateStatusReasonCode="InternalError")


LOG_LEVELS = ("ApplicationLogLevel", "SystemLogLevel")


def _normalise(cfg: dict, given_logging: dict | None = None) -> None:
    env = cfg.get("Environment")
    if env is not None:
        cfg["Environment"] = {"Variables": dict(env.get("Variables") or {})}
    cfg["LoggingConfig"] = logging_config(cfg.get("LoggingConfig") or {}, given_logging or {}, cfg["FunctionName"])
    snap = cfg.get("SnapStart") or {}
    cfg["SnapStart"] = {"ApplyOn": snap.get("ApplyOn", "None"), "OptimizationStatus": "Off"}


def logging_config(merged: dict, given: dict, name: str) -> dict:
    """LoggingConfig as AWS keeps it: log levels only with JSON (INFO unless given); levels asked for
    with Text are refused, levels left over from an earlier JSON setting are dropped."""
    out = dict(merged)
    out.setdefault("LogFormat", "Text")
    if out["LogFormat"] == "Text":
        if any(given.get(k) for k in LOG_LEVELS):
            raise AwsError("InvalidParameterValueException",
                           'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your '
                           'request or change the LogFormat to "Json" and try again.')
        for k in LOG_LEVELS:
            out.pop(k, None)
    else:
        for k in LOG_LEVELS:
            out[k] = out.get(k) or "INFO"
    out.setdefault("LogGroup", f"/aws/lambda/{name}")
    return {k: out[k] for k in ("LogFormat", "ApplicationLogLevel", "SystemLogLevel", "LogGroup") if k in out}


# ListFunctions items omit these (model doc; real list items lack them).
LIST_OMITS = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
              "LastUpdateStatusReasonCode", "RuntimeVersionConfig")


def list_item(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in LIST_OMITS}
