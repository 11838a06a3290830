"""Intrinsic functions, pseudo parameters and conditions: resolving a template value against parameters
and the resources deployed so far, and finding which resources a value depends on."""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import TemplateError

__all__ = ["NO_VALUE", "Resolver", "references", "evaluate_conditions", "pseudo_parameters"]


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
FUNCTIONS = {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::If", "Fn::Equals",
             "Fn::And", "Fn::Or", "Fn::Not", "Fn::FindInMap", "Fn::GetAZs", "Fn::Base64", "Fn::ImportValue",
             "Fn::ToJsonString", "Fn::Length", "Condition", "Fn::Cidr"}


def pseudo_parameters(region: str, account: str, stack_name: str, stack_id: str) -> dict[str, Any]:
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov") else "aws"
    return {"AWS::Region": region, "AWS::AccountId": account, "AWS::StackName": stack_name, "AWS::StackId": stack_id,
            "AWS::Partition": partition, "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
            "AWS::NotificationARNs": []}


def _intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in FUNCTIONS:
            return key, value[key]
    return None


def _get_att_args(arg: Any) -> tuple[Any, Any]:
    if isinstance(arg, str):
        name, _, attr = arg.partition(".")
        return name, attr
    if isinstance(arg, list) and len(arg) == 2:
        return arg[0], arg[1]
    raise TemplateError("Template error: every Fn::GetAtt object requires two non-empty parameters", full=True)


def _sub_args(arg: Any) -> tuple[str, dict]:
    """Fn::Sub's text and variables: a string, or [string, {name: value}]; CloudFormation's error otherwise."""
    if isinstance(arg, str):
        return arg, {}
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
        return arg[0], arg[1]
    raise TemplateError("Template error: One or more Fn::Sub intrinsic functions don't specify expected "
                        "arguments. Specify a string as first argument, and an optional second argument "
                        "to specify a mapping of values to replace in the string", full=True)


def _named(value: Any) -> Iterator[tuple[str, str]]:
    """Every (function, logical name) that `value` names: Ref targets, Fn::GetAtt targets and the heads of
    Fn::Sub variables (less the ones the Fn::Sub binds itself). One walk serves both the dependency graph
    and the check for names that exist nowhere."""
    fn = _intrinsic(value)
    if fn is not None:
        name, arg = fn
        if name == "Ref" and isinstance(arg, str):
            yield name, arg
            return
        if name == "Fn::GetAtt":
            target, _ = _get_att_args(arg)
            if isinstance(target, str):
                yield name, target
            return
        if name == "Fn::Sub":
            text, variables = _sub_args(arg)
            for var in _SUB_VAR.findall(text):
                head = var.split(".", 1)[0]
                if not var.startswith("!") and var not in variables and head not in variables:
                    yield name, head
            yield from _named(variables)
            return
        yield from _named(arg)
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from _named(item)
    elif isinstance(value, list):
        for item in value:
            yield from _named(item)


def references(value: Any, resources: set[str]) -> set[str]:
    """Logical ids of resources `value` refers to (Ref, Fn::GetAtt, Fn::Sub variables)."""
    return {name for _, name in _named(value) if name in resources}


def unresolved_references(value: Any, known: set[str]) -> set[str]:
    """Names used by Ref / Fn::GetAtt / Fn::Sub variables that are neither resources, parameters nor pseudo
    parameters (CloudFormation refuses `!Sub "${Nope}"` up front too, not when the resource is created)."""
    return {name for fn, name in _named(value)
            if name not in known and not (fn != "Fn::GetAtt" and name.startswith("AWS::"))}


@dataclass
class Resolver:
    """Resolves template values. `ref` and `get_att` answer for deployed resources."""

    params: dict[str, Any]
    mappings: dict = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    ref: Callable[[str], Any] | None = None
    get_att: Callable[[str, str], Any] | None = None
    import_value: Callable[[str], Any] | None = None
    resources: set[str] = field(default_factory=set)

    def resolve(self, value: Any) -> Any:
        fn = _intrinsic(value)
        if fn is not None:
            return getattr(self, "_" + fn[0].replace("Fn::", "fn_").lower())(fn[1])
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                r = self.resolve(v)
                if r is not NO_VALUE:
                    out[k] = r
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        return value

    # -- functions
    def _ref(self, name: Any) -> Any:
        name = self.resolve(name) if not isinstance(name, str) else name
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        if name in self.resources and self.ref is not None:
            return self.ref(name)
        raise TemplateError(f"Template format error: Unresolved resource dependencies [{name}] in the "
                            "Resources block of the template", full=True)

    def _fn_getatt(self, arg: Any) -> Any:
        name, attr = _get_att_args(arg)
        attr = self.resolve(attr)
        if name not in self.resources or self.get_att is None:
            raise TemplateError(f"Template error: instance of Fn::GetAtt references undefined resource {name}",
                                full=True)
        return self.get_att(name, str(attr))

    def _fn_sub(self, arg: Any) -> str:
        text, given = _sub_args(arg)
        variables = {k: self.resolve(v) for k, v in given.items()}

        def sub(m: re.Match) -> str:
            var = m.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            if var in variables:
                return _text(variables[var])
            if var in self.params:
                return _text(self.params[var])
            if "." in var:
                head, attr = var.split(".", 1)
                if head in self.resources:
                    return _text(self._fn_getatt([head, attr]))
            if var in self.resources:
                return _text(self._ref(var))
            raise TemplateError(f"Template format error: Unresolved resource dependencies [{var}] in the "
                                "Resources block of the template", full=True)

        return _SUB_VAR.sub(sub, text)

    def _fn_join(self, arg: Any) -> str:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError("Template error: every Fn::Join object requires two parameters, (1) a string "
                                "delimiter and (2) a list of strings to be joined", full=True)
        items = self.resolve(arg[1])
        if not isinstance(items, list):
            raise TemplateError("Template error: every Fn::Join object requires two parameters, (1) a string "
                                "delimiter and (2) a list of strings to be joined", full=True)
        return str(self.resolve(arg[0])).join(_text(i) for i in items)

    def _fn_select(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError("Template error: Fn::Select requires a list argument with two elements", full=True)
        index, items = self.resolve(arg[0]), self.resolve(arg[1])
        try:
            return items[int(index)]
        except (ValueError, TypeError, IndexError):
            raise TemplateError("Template error: Fn::Select cannot select nonexistent value at index "
                                f"{index}", full=True) from None

    def _fn_split(self, arg: Any) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError("Template error: every Fn::Split object requires two parameters", full=True)
        return _text(self.resolve(arg[1])).split(str(self.resolve(arg[0])))

    def _fn_if(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise TemplateError("Template error: Fn::If requires a list argument with three elements", full=True)
        if arg[0] not in self.conditions:
            raise TemplateError(f"Template format error: Unresolved condition dependency {arg[0]} in Fn::If",
                                full=True)
        return self.resolve(arg[1] if self.conditions[arg[0]] else arg[2])

    def _fn_equals(self, arg: Any) -> bool:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError("Template error: Fn::Equals requires a list argument with two elements", full=True)
        return _text(self.resolve(arg[0])) == _text(self.resolve(arg[1]))

    def _bools(self, arg: Any, name: str) -> list[bool]:
        if not isinstance(arg, list):
            raise TemplateError(f"Template error: {name} requires a list argument", full=True)
        out = []
        for item in arg:
            v = self.resolve(item)
            if not isinstance(v, bool):
                raise TemplateError(f"Template error: every {name} member must be a condition", full=True)
            out.append(v)
        return out

    def _fn_and(self, arg: Any) -> bool:
        return all(self._bools(arg, "Fn::And"))

    def _fn_or(self, arg: Any) -> bool:
        return any(self._bools(arg, "Fn::Or"))

    def _fn_not(self, arg: Any) -> bool:
        values = self._bools(arg, "Fn::Not")
        if len(values) != 1:
            raise TemplateError("Template error: Fn::Not requires a list argument with one element", full=True)
        return not values[0]

    def _condition(self, name: Any) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"Template format error: Unresolved condition dependency {name}", full=True)
        return self.conditions[name]

    def _fn_findinmap(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise TemplateError("Template error: every Fn::FindInMap object requires three parameters, the map "
                                "name, map key and the attribute for return value", full=True)
        name, top, second = (self.resolve(a) for a in arg[:3])
        try:
            return self.mappings[name][str(top)][str(second)]
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            if name not in self.mappings:
                raise TemplateError(f"Template error: Unable to get mapping for {name}::{top}::{second}",
                                    full=True) from None
            raise TemplateError(f"Template error: Unable to get mapping for {name}::{top}::{second}",
                                full=True) from None

    def _fn_getazs(self, arg: Any) -> list[str]:
        region = self.resolve(arg) or self.params.get("AWS::Region", "us-east-1")
        return [f"{region}{z}" for z in "abc"]

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(_text(self.resolve(arg)).encode()).decode()

    def _fn_importvalue(self, arg: Any) -> Any:
        name = self.resolve(arg)
        value = self.import_value(str(name)) if self.import_value else None
        if value is None:
            raise TemplateError(f"No export named {name} found.", full=True)
        return value

    def _fn_tojsonstring(self, arg: Any) -> str:
        value = self.resolve(arg)
        if not isinstance(value, (dict, list)):  # e.g. a Ref to a String parameter
            raise TemplateError("Template error: Fn::ToJsonString layout is incorrect", full=True)
        return json.dumps(value, separators=(",", ":"))

    def _fn_length(self, arg: Any) -> int:
        value = self.resolve(arg)
        if not isinstance(value, list):
            raise TemplateError("Template error: Fn::Length requires a list", full=True)
        return len(value)

    def _fn_cidr(self, arg: Any) -> Any:
        raise TemplateError("Template error: nubis does not support Fn::Cidr", full=True)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise TemplateError("Template error: a string was expected where a list or object was given "
                            f"({json.dumps(value)[:80]})", full=True)
    return str(value)


def evaluate_conditions(doc: dict, params: dict[str, Any], mappings: dict) -> dict[str, bool]:
    """Every condition of the Conditions section, in dependency order (conditions may name conditions)."""
    specs: dict = doc.get("Conditions") or {}
    if not isinstance(specs, dict):
        raise TemplateError("Conditions must be an object")
    done: dict[str, bool] = {}
    active: set[str] = set()

    class _Lazy(dict):
        def __contains__(self, name: object) -> bool:
            return name in specs

        def __getitem__(self, name: str) -> bool:
            return evaluate(name)

    resolver = Resolver(params=params, mappings=mappings, conditions=_Lazy())

    def evaluate(name: str) -> bool:
        if name in done:
            return done[name]
        if name in active:
            raise TemplateError(f"Circular dependency between conditions: [{name}]")
        active.add(name)
        value = resolver.resolve(specs[name])
        active.discard(name)
        if not isinstance(value, bool):
            raise TemplateError(f"Conditions can only be boolean operations on parameters and other conditions "
                                f"({name})")
        done[name] = value
        return value

    for name in specs:
        evaluate(name)
    return done
