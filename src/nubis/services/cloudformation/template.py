"""Reading a template (JSON or YAML) and checking its shape the way CloudFormation does before it
creates anything: top-level sections, resource types, parameters and their values."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import TemplateError, validation
from .resource_types import unrecognized
from .yaml_loader import load_yaml

SECTIONS = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings", "Conditions",
            "Transform", "Resources", "Outputs", "Rules", "Hooks"}
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
PARAMETER_TYPES = {"String", "Number", "List<Number>", "CommaDelimitedList"}
DELETION_POLICIES = {"Delete", "Retain", "Snapshot", "RetainExceptOnCreate"}
REPLACE_POLICIES = {"Delete", "Retain", "Snapshot"}
EXPORT_NAME = re.compile(r"[A-Za-z0-9:-]+")
MAX_BODY = 51_200  # TemplateBody; a TemplateURL may point at up to 1 MB
NO_ECHO_MASK = "****"


def parse_body(text: str) -> dict:
    """The template document; TemplateError with CloudFormation's wording for bad syntax."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise TemplateError(f"JSON not well-formed. (line {e.lineno}, column {e.colno})") from None
    else:
        try:
            doc = load_yaml(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            raise TemplateError(f"YAML not well-formed.{where}") from None
    if not isinstance(doc, dict):
        raise TemplateError("template is not a JSON or YAML object")
    return doc


def transforms(doc: dict) -> list[str]:
    t = doc.get("Transform")
    if t is None:
        return []
    items = t if isinstance(t, list) else [t]
    if not all(isinstance(i, str) or (isinstance(i, dict) and isinstance(i.get("Name"), str)) for i in items):
        raise TemplateError("Transform must be a macro name, a list of names or {Name, Parameters} objects")
    return [i if isinstance(i, str) else i["Name"] for i in items]


def check_shape(doc: dict) -> None:
    """Section names, the Resources block and resource types (CloudFormation's pre-flight checks)."""
    allowed = SECTIONS | ({"Globals"} if SAM_TRANSFORM in transforms(doc) else set())
    unknown = sorted(k for k in doc if k not in allowed)
    if unknown:
        raise TemplateError(f"Invalid template property or properties [{', '.join(unknown)}]")
    for name in transforms(doc):
        if name != SAM_TRANSFORM:
            raise TemplateError(f"Transform {name} is not supported by nubis (only {SAM_TRANSFORM})", full=False)
    resources = doc.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError("At least one Resources member must be defined.")
    types: list[str] = []
    for logical, res in resources.items():
        if not re.fullmatch(r"[A-Za-z0-9]+", logical):
            raise TemplateError(f"Resource name {logical} is non alphanumeric.")
        if not isinstance(res, dict):
            raise TemplateError(f"[/Resources/{logical}] resource definition is malformed")
        rtype = res.get("Type")
        if not isinstance(rtype, str):
            raise TemplateError(f"[/Resources/{logical}] Every Resources object must contain a Type member.")
        types.append(rtype)
        if res.get("Properties") is not None and not isinstance(res["Properties"], dict):
            raise TemplateError(f"[/Resources/{logical}/Properties] Properties must be an object")
        if "Condition" in res and not isinstance(res["Condition"], str):
            raise TemplateError(f"[/Resources/{logical}/Condition] Condition must be the name of a condition")
        unknown_keys = sorted(set(res) - {"Type", "Properties", "DependsOn", "Condition", "Metadata",
                                          "DeletionPolicy", "UpdateReplacePolicy", "CreationPolicy",
                                          "UpdatePolicy", "Version", "Description"})
        if unknown_keys:
            raise TemplateError(f"[/Resources/{logical}] Invalid resource attribute {unknown_keys}")
        _check_policies(logical, res)
    bad_types = unrecognized(types, sam=SAM_TRANSFORM in transforms(doc))
    if bad_types:
        raise TemplateError(f"Unrecognized resource types: [{', '.join(bad_types)}]")
    params = doc.get("Parameters") or {}
    if not isinstance(params, dict):
        raise TemplateError("Parameters must be an object")
    for name, spec in params.items():
        if not isinstance(spec, dict) or "Type" not in spec:
            raise TemplateError(f"[/Parameters/{name}] 'null' values are not allowed in templates"
                                if spec is None else f"Every Parameters object must contain a Type member.")
        ptype = spec["Type"]
        if "AllowedValues" in spec and not isinstance(spec["AllowedValues"], list):
            raise TemplateError(f"[/Parameters/{name}/AllowedValues] AllowedValues must be a list")
        if not (ptype in PARAMETER_TYPES or str(ptype).startswith(("AWS::", "List<AWS::"))):
            raise TemplateError(f"Unrecognized parameter type: {ptype}")
    outputs = doc.get("Outputs") or {}
    if not isinstance(outputs, dict):
        raise TemplateError("Outputs must be an object")
    for name, out in outputs.items():
        if not isinstance(out, dict) or "Value" not in out:
            raise TemplateError(f"Every Outputs member must contain a Value object ({name})")
        if "Export" in out:
            _check_export(name, out["Export"])
    _check_mappings(doc.get("Mappings"))
    _check_to_json_string(doc.get("Resources"))
    _check_to_json_string(outputs)


def _check_policies(logical: str, res: dict) -> None:
    """DeletionPolicy / UpdateReplacePolicy: a literal string of a known policy. The 'must be a string'
    text is AWS's (aws-sam-translator raises it too); 'Unrecognized <policy> <value> for resource <id>' is
    AWS's wording for an unknown value."""
    for attr, allowed in (("DeletionPolicy", DELETION_POLICIES), ("UpdateReplacePolicy", REPLACE_POLICIES)):
        if attr not in res:
            continue
        value = res[attr]
        if not isinstance(value, str):
            raise TemplateError(f"Every {attr} member must be a string.")
        if value not in allowed:
            raise TemplateError(f"Unrecognized {attr} {value} for resource {logical}")


def _check_export(output: str, export: Any) -> None:
    """AWS's message for an Export without a (well-formed) Name; a Name made by an intrinsic function is
    checked once it is resolved."""
    name = export.get("Name") if isinstance(export, dict) else None
    if name is None or isinstance(name, (int, float, bool, list)) or \
            (isinstance(name, str) and not EXPORT_NAME.fullmatch(name)):
        raise TemplateError(f"Output {output} is malformed. The Name field of every Export member must be "
                            "specified and consist only of alphanumeric characters, colons, or hyphens.")


def _check_mappings(mappings: Any) -> None:
    """Mappings: name -> top-level key -> second-level key -> value. The member and attribute messages follow
    AWS's; the text for a Mappings section that is not an object could not be verified against AWS and
    keeps the wording of the other sections' checks here."""
    if mappings is None:
        return
    if not isinstance(mappings, dict):
        raise TemplateError("Mappings must be an object")
    for name, top in mappings.items():
        if not isinstance(top, dict):
            raise TemplateError(f"[/Mappings/{name}] Every Mappings member {name} must be a map")
        for key, second in top.items():
            if not isinstance(second, dict):
                raise TemplateError(f"[/Mappings/{name}/{key}] Every Mappings attribute must be a map")


def _check_to_json_string(value: Any) -> None:
    """Fn::ToJsonString takes an object or a list (or a function that makes one). AWS's
    AWS::LanguageExtensions transform refuses anything else with 'Fn::ToJsonString layout is incorrect'."""
    if isinstance(value, dict):
        if len(value) == 1 and "Fn::ToJsonString" in value:
            arg = value["Fn::ToJsonString"]
            if not isinstance(arg, (dict, list)):
                raise TemplateError("Fn::ToJsonString layout is incorrect")
        for v in value.values():
            _check_to_json_string(v)
    elif isinstance(value, list):
        for v in value:
            _check_to_json_string(v)


@dataclass
class ParamValues:
    values: dict[str, Any] = field(default_factory=dict)  # resolved (lists for list types)
    raw: dict[str, str] = field(default_factory=dict)  # as given (strings)
    no_echo: set[str] = field(default_factory=set)

    def described(self) -> list[dict]:
        return [{"ParameterKey": k, "ParameterValue": NO_ECHO_MASK if k in self.no_echo else v}
                for k, v in self.raw.items()]


def resolve_parameters(doc: dict, given: list[dict], previous: dict[str, str] | None = None) -> ParamValues:
    """Given parameters + defaults (+ previous values for UsePreviousValue) -> values; ValidationError
    with CloudFormation's messages for missing, unknown or disallowed values."""
    specs: dict = doc.get("Parameters") or {}
    supplied: dict[str, str] = {}
    for p in given or []:
        key = p.get("ParameterKey")
        if key is None:
            continue
        if p.get("UsePreviousValue"):
            if previous is None or key not in previous:
                raise validation(f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as "
                                 "true for a parameter key not in the previous template")
            supplied[key] = previous[key]
        else:
            supplied[key] = str(p.get("ParameterValue", ""))
    extra = [k for k in supplied if k not in specs]
    if extra:
        raise validation(f"Parameters: [{', '.join(extra)}] do not exist in the template")
    out = ParamValues()
    missing: list[str] = []
    for name, spec in specs.items():
        if name in supplied:
            value = supplied[name]
        elif "Default" in spec:
            d = spec["Default"]
            value = ",".join(map(str, d)) if isinstance(d, list) else ("true" if d is True else "false" if d is False
                                                                        else str(d))
        else:
            missing.append(name)
            continue
        _check_value(name, spec, value)
        out.raw[name] = value
        ptype = str(spec.get("Type"))
        out.values[name] = [v.strip() for v in value.split(",")] if ptype in ("CommaDelimitedList", "List<Number>") \
            or ptype.startswith("List<") else value
        if str(spec.get("NoEcho", "false")).lower() == "true":
            out.no_echo.add(name)
    if missing:
        raise validation(f"Parameters: [{', '.join(missing)}] must have values")
    return out


def _check_value(name: str, spec: dict, value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        raise validation(f"Parameter '{name}' must be one of AllowedValues")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        raise validation(f"Parameter '{name}' must match pattern {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise validation(f"Parameter '{name}' must be a number not {value}") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise validation(f"Parameter '{name}' must be a number not less than {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise validation(f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise validation(f"Parameter '{name}' must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise validation(f"Parameter '{name}' must contain at most {spec['MaxLength']} characters")


def describe_parameters(doc: dict) -> list[dict]:
    """Parameters as ValidateTemplate / GetTemplateSummary list them."""
    out = []
    for name, spec in (doc.get("Parameters") or {}).items():
        item: dict[str, Any] = {"ParameterKey": name, "NoEcho": str(spec.get("NoEcho", "false")).lower() == "true"}
        if "Default" in spec:
            d = spec["Default"]
            item["DefaultValue"] = ",".join(map(str, d)) if isinstance(d, list) else str(d)
        if "Description" in spec:
            item["Description"] = str(spec["Description"])
        item["ParameterType"] = str(spec.get("Type"))
        if "AllowedValues" in spec:
            item["ParameterConstraints"] = {"AllowedValues": [str(a) for a in spec["AllowedValues"]]}
        out.append(item)
    return out


IAM_TYPES = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group",
             "AWS::IAM::InstanceProfile", "AWS::IAM::AccessKey", "AWS::IAM::UserToGroupAddition"}
_NAMED = {"AWS::IAM::Role": "RoleName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::IAM::User": "UserName",
          "AWS::IAM::Group": "GroupName", "AWS::IAM::InstanceProfile": "InstanceProfileName"}


def required_capabilities(resources: dict) -> tuple[list[str], str]:
    """The IAM capability a (processed) template needs, and CloudFormation's reason text."""
    iam = [(k, r) for k, r in resources.items() if r.get("Type") in IAM_TYPES]
    if not iam:
        return [], ""
    named = [k for k, r in iam if _NAMED.get(r["Type"]) in (r.get("Properties") or {})]
    if named:
        return ["CAPABILITY_NAMED_IAM"], f"The following resource(s) require capabilities: [{', '.join(r['Type'] for _, r in iam)}]"
    return ["CAPABILITY_IAM"], f"The following resource(s) require capabilities: [{', '.join(sorted({r['Type'] for _, r in iam}))}]"


def check_capabilities(resources: dict, given: list[str], transformed: bool, need_auto_expand: bool) -> None:
    needed, _ = required_capabilities(resources)
    caps = set(given or [])
    if need_auto_expand and transformed and "CAPABILITY_AUTO_EXPAND" not in caps:
        raise_caps(["CAPABILITY_AUTO_EXPAND"])
    if needed == ["CAPABILITY_NAMED_IAM"] and "CAPABILITY_NAMED_IAM" not in caps:
        raise_caps(needed)
    if needed == ["CAPABILITY_IAM"] and not caps & {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}:
        raise_caps(needed)


def raise_caps(needed: list[str]) -> None:
    from .errors import insufficient_capabilities
    raise insufficient_capabilities(needed)
