"""Building and updating the FunctionConfiguration document from API parameters."""
from __future__ import annotations

import hashlib

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
    _normalise(cfg)
    return cfg


def apply_update(cfg: dict, params: dict) -> dict:
    """UpdateFunctionConfiguration: any subset of members; Environment.Variables replaced wholesale."""
    out = dict(cfg)
    for key in _COPIED:
        if key in params and params[key] is not None:
            out[key] = params[key]
    if "Runtime" in params:
        out["RuntimeVersionConfig"] = {"RuntimeVersionArn": runtime_version_arn(
            out["FunctionArn"].split(":")[3], params["Runtime"])}
    _normalise(out)
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


def _normalise(cfg: dict) -> None:
    env = cfg.get("Environment")
    if env is not None:
        cfg["Environment"] = {"Variables": dict(env.get("Variables") or {})}
    logging_cfg = cfg.get("LoggingConfig") or {}
    logging_cfg.setdefault("LogFormat", "Text")
    logging_cfg.setdefault("LogGroup", f"/aws/lambda/{cfg['FunctionName']}")
    cfg["LoggingConfig"] = logging_cfg
    snap = cfg.get("SnapStart") or {}
    cfg["SnapStart"] = {"ApplyOn": snap.get("ApplyOn", "None"), "OptimizationStatus": "Off"}


# ListFunctions items omit these (model doc; real list items lack them).
LIST_OMITS = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
              "LastUpdateStatusReasonCode", "RuntimeVersionConfig")


def list_item(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in LIST_OMITS}
