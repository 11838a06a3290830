"""Commands that manage functions: `nubis deploy`, `ls`, `rm`, `publish`, `alias`, `url` and `layer`."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nubis import cli_output as out
from nubis.cli_client import aws_client
from nubis.cli_code import load_code
from nubis.cli_errors import CliError, error_code
from nubis.cli_triggers import all_triggers, function_triggers

DEFAULT_ROLE = "arn:aws:iam::000000000000:role/nubis-default"
DEFAULT_RUNTIME = "python3.12"
DEFAULT_HANDLER = "app.handler"
DEFAULT_MEMORY = 128
DEFAULT_TIMEOUT = 3
WAITER_CONFIG = {"Delay": 0.2, "MaxAttempts": 600}  # nubis is fast: poll often, give up after ~2 min


def config_changes(args: argparse.Namespace) -> dict[str, Any]:
    """UpdateFunctionConfiguration parameters for the flags the user actually gave."""
    changes: dict[str, Any] = {}
    for flag, key in (("runtime", "Runtime"), ("handler", "Handler"), ("memory", "MemorySize"),
                      ("timeout", "Timeout"), ("role", "Role")):
        value = getattr(args, flag, None)
        if value is not None:
            changes[key] = value
    if getattr(args, "env", None) is not None:
        changes["Environment"] = {"Variables": dict(args.env)}
    if getattr(args, "layers", None) is not None:
        changes["Layers"] = args.layers
    return changes


def fmt_lambda_time(text: str | None) -> str | None:
    """Lambda's `2024-01-02T03:04:05.678+0000` as `2024-01-02 03:04:05` (UTC)."""
    if not text:
        return None
    try:
        dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return text
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def cmd_deploy(args: argparse.Namespace) -> int:
    code = load_code(Path(args.path))
    client = aws_client(args, "lambda")
    try:
        client.get_function_configuration(FunctionName=args.name)
        exists = True
    except Exception as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
        exists = False

    if not exists:
        params: dict[str, Any] = {
            "FunctionName": args.name,
            "Runtime": DEFAULT_RUNTIME if args.runtime is None else args.runtime,
            "Handler": DEFAULT_HANDLER if args.handler is None else args.handler,
            "Role": DEFAULT_ROLE if args.role is None else args.role,
            "MemorySize": DEFAULT_MEMORY if args.memory is None else args.memory,
            "Timeout": DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
            "Code": {"ZipFile": code},
        }
        if args.env is not None:
            params["Environment"] = {"Variables": dict(args.env)}
        if args.layers is not None:
            params["Layers"] = args.layers
        if args.architecture:
            params["Architectures"] = [args.architecture]
        client.create_function(**params)
        client.get_waiter("function_active_v2").wait(FunctionName=args.name, WaiterConfig=WAITER_CONFIG)
        action = "created"
    else:
        code_params: dict[str, Any] = {"FunctionName": args.name, "ZipFile": code}
        if args.architecture:
            code_params["Architectures"] = [args.architecture]
        client.update_function_code(**code_params)
        client.get_waiter("function_updated_v2").wait(FunctionName=args.name, WaiterConfig=WAITER_CONFIG)
        changes = config_changes(args)
        if changes:
            client.update_function_configuration(FunctionName=args.name, **changes)
            client.get_waiter("function_updated_v2").wait(FunctionName=args.name, WaiterConfig=WAITER_CONFIG)
        action = "updated"

    cfg = out.strip_metadata(client.get_function_configuration(FunctionName=args.name))
    if args.json:
        out.dump_json(cfg)
        return 0
    print(f"{action} function {cfg.get('FunctionName', args.name)}")
    print(out.kv_block([
        ("arn", cfg.get("FunctionArn")),
        ("runtime", f"{cfg.get('Runtime')}  handler {cfg.get('Handler')}"),
        ("memory", f"{cfg.get('MemorySize')} MB  timeout {cfg.get('Timeout')} s"),
        ("code", f"{out.fmt_bytes(cfg.get('CodeSize', len(code)))}  sha256 {cfg.get('CodeSha256')}"),
        ("state", cfg.get("State")),
    ]))
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    functions = [f for page in client.get_paginator("list_functions").paginate() for f in page.get("Functions", [])]
    triggers = all_triggers(lambda service: aws_client(args, service)) if functions else {}
    for f in functions:
        f["Triggers"] = function_triggers(f["FunctionArn"], triggers)
    if args.json:
        out.dump_json({"Functions": functions})
        return 0
    if not functions:
        print("no functions yet — deploy one with `nubis deploy PATH --name NAME`", file=sys.stderr)
        return 0
    rows = []
    for f in functions:
        state = f.get("State")
        if state is None:  # AWS's ListFunctions leaves State out; GetFunctionConfiguration has it
            try:
                state = client.get_function_configuration(FunctionName=f["FunctionName"]).get("State")
            except Exception as e:
                if error_code(e) != "ResourceNotFoundException":
                    raise
        rows.append((f.get("FunctionName"), f.get("Runtime"), f.get("MemorySize"), f.get("Timeout"),
                     fmt_lambda_time(f.get("LastModified")), state, ", ".join(f["Triggers"]) or None))
    print(out.table(["NAME", "RUNTIME", "MEMORY (MB)", "TIMEOUT (S)", "LAST MODIFIED (UTC)", "STATE", "TRIGGERS"],
                    rows, "llrrlll"))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if not args.yes and sys.stdin.isatty():
        try:
            answer = input(f"delete function {args.name}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted", file=sys.stderr)
            return 1
    aws_client(args, "lambda").delete_function(FunctionName=args.name)
    print(f"deleted function {args.name}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    kwargs = {"Description": args.description} if args.description else {}
    cfg = client.publish_version(FunctionName=args.name, **kwargs)
    if args.json:
        out.dump_json(out.strip_metadata(cfg))
    else:
        print(f"published {args.name} version {cfg['Version']}  ({cfg['FunctionArn']})")
    return 0


def _weights(pairs: list[str] | None) -> dict[str, float]:
    weights = {}
    for pair in pairs or []:
        version, sep, weight = pair.partition("=")
        try:
            weights[version] = float(weight)
        except ValueError:
            sep = ""
        if not sep or not version:
            raise CliError(f"--weight takes VERSION=WEIGHT (e.g. 2=0.1), not {pair!r}", 2)
    return weights


def cmd_alias(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    if args.alias is None:  # list
        aliases = [a for page in client.get_paginator("list_aliases").paginate(FunctionName=args.name)
                   for a in page.get("Aliases", [])]
        if args.json:
            out.dump_json({"Aliases": aliases})
        else:
            rows = [(a["Name"], a["FunctionVersion"], ", ".join(f"{v}={w:g}" for v, w in
                    ((a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).items()) or "-",
                     a.get("Description") or "") for a in aliases]
            print(out.table(["ALIAS", "VERSION", "ALSO ROUTES TO", "DESCRIPTION"], rows, "llll"))
        return 0
    if args.rm:
        client.delete_alias(FunctionName=args.name, Name=args.alias)
        print(f"deleted alias {args.alias} of {args.name}")
        return 0
    if args.version is None:
        alias = client.get_alias(FunctionName=args.name, Name=args.alias)
    else:
        kwargs: dict[str, Any] = {"FunctionName": args.name, "Name": args.alias, "FunctionVersion": args.version,
                                  "RoutingConfig": {"AdditionalVersionWeights": _weights(args.weight)}}
        try:
            alias = client.update_alias(**kwargs)
        except Exception as e:
            if error_code(e) != "ResourceNotFoundException":
                raise
            alias = client.create_alias(**kwargs)
    if args.json:
        out.dump_json(out.strip_metadata(alias))
    else:
        print(f"{alias['AliasArn']} -> version {alias['FunctionVersion']}")
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    kwargs = {"Qualifier": args.qualifier} if args.qualifier else {}
    cors = ({"AllowOrigins": args.cors_origin, "AllowMethods": ["*"], "AllowHeaders": ["*"]}
            if args.cors_origin else None)
    try:
        cfg = client.get_function_url_config(FunctionName=args.name, **kwargs)
    except Exception as e:
        if error_code(e) != "ResourceNotFoundException" or "Function not found" in str(e):
            raise
        cfg = client.create_function_url_config(FunctionName=args.name, AuthType=args.auth or "NONE", **kwargs,
                                                **({"Cors": cors} if cors else {}))
    else:  # an existing URL takes the options given
        changes: dict[str, Any] = {}
        if args.auth and args.auth != cfg["AuthType"]:
            changes["AuthType"] = args.auth
        if cors:
            changes["Cors"] = cors
        if changes:
            cfg = client.update_function_url_config(FunctionName=args.name, **kwargs, **changes)
    if cfg["AuthType"] == "NONE":  # as the console does: a public URL needs this statement
        try:
            client.add_permission(FunctionName=args.name, StatementId="FunctionURLAllowPublicAccess",
                                  Action="lambda:InvokeFunctionUrl", Principal="*", FunctionUrlAuthType="NONE",
                                  **kwargs)
        except Exception as e:
            if error_code(e) != "ResourceConflictException":  # the statement is there already
                raise
    url_id = cfg["FunctionUrl"].split("//", 1)[1].split(".", 1)[0]
    path_form = f"{args.endpoint}/_nubis/lambda/url/{url_id}/"
    if args.json:
        out.dump_json(dict(out.strip_metadata(cfg), PathFormUrl=path_form))
    else:
        print(cfg["FunctionUrl"])
        print(f"  also at {path_form} (no DNS needed); auth {cfg['AuthType']}", file=sys.stderr)
    return 0


def cmd_layer(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    if args.path is not None:  # publish
        kwargs: dict[str, Any] = {"LayerName": args.name, "Content": {"ZipFile": load_code(Path(args.path))}}
        if args.runtime:
            kwargs["CompatibleRuntimes"] = args.runtime
        if args.description:
            kwargs["Description"] = args.description
        doc = client.publish_layer_version(**kwargs)
        if args.json:
            out.dump_json(out.strip_metadata(doc))
        else:
            print(doc["LayerVersionArn"])
        return 0
    if args.name:
        versions = [v for page in client.get_paginator("list_layer_versions").paginate(LayerName=args.name)
                    for v in page.get("LayerVersions", [])]
        if args.json:
            out.dump_json({"LayerVersions": versions})
        elif not versions:
            raise CliError(f"no layer named {args.name} (see `nubis layer` for the list, or publish one "
                           f"with `nubis layer {args.name} PATH`)")
        else:
            rows = [(v["Version"], ", ".join(v.get("CompatibleRuntimes") or []) or "-",
                     fmt_lambda_time(v.get("CreatedDate")), v["LayerVersionArn"]) for v in versions]
            print(out.table(["VERSION", "RUNTIMES", "CREATED (UTC)", "ARN"], rows, "rlll"))
        return 0
    layers = [l for page in client.get_paginator("list_layers").paginate() for l in page.get("Layers", [])]
    if args.json:
        out.dump_json({"Layers": layers})
    else:
        rows = [(l["LayerName"], l["LatestMatchingVersion"]["Version"], l["LatestMatchingVersion"]["LayerVersionArn"])
                for l in layers]
        print(out.table(["LAYER", "LATEST", "ARN"], rows, "lrl"))
    return 0
