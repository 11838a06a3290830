"""A processed template with its parameter values: which resources exist (conditions), in which order
they can be created (dependencies), and a resolver for their properties and the outputs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import TemplateError
from .intrinsics import Resolver, evaluate_conditions, references, unresolved_references


@dataclass
class Plan:
    resources: dict[str, dict]  # included resources, template order
    order: list[str]  # creation order
    deps: dict[str, set[str]]
    resolver: Resolver


def depends_on(res: dict) -> list[str]:
    d = res.get("DependsOn") or []
    d = [d] if isinstance(d, str) else d
    if not isinstance(d, list) or not all(isinstance(x, str) for x in d):
        raise TemplateError("DependsOn must be a string or list of strings.")
    return d


def dependency_order(resources: dict[str, dict], all_names: set[str] | None = None) -> tuple[list[str], dict[str, set[str]]]:
    """Kahn's algorithm in template order; TemplateError for a cycle."""
    names = set(resources)
    all_names = all_names or names
    deps: dict[str, set[str]] = {}
    for k, r in resources.items():
        d = set(depends_on(r)) | references(r.get("Properties") or {}, all_names)
        deps[k] = (d & names) - {k}
    order: list[str] = []
    remaining = dict(deps)
    while remaining:
        ready = [k for k in resources if k in remaining and not (remaining[k] - set(order))]
        if not ready:
            # CloudFormation's whole message, without the "Template format error: " prefix
            raise TemplateError(f"Circular dependency between resources: [{', '.join(sorted(remaining))}]", full=True)
        for k in ready:
            order.append(k)
            del remaining[k]
    return order, deps


def check_references(doc: dict, known: set[str], conditions: dict | None = None) -> None:
    """TemplateError, in CloudFormation's words, for a DependsOn, Ref, GetAtt or Sub naming nothing in
    `known` (resources, parameters, pseudo parameters), and for a resource Condition that is not defined
    (checked when `conditions` is given)."""
    all_resources: dict = doc["Resources"]
    all_names = set(all_resources)
    for k, r in all_resources.items():
        for d in depends_on(r):
            if d not in all_names:
                raise TemplateError(f"Template format error: Unresolved resource dependencies [{d}] in the "
                                    "Resources block of the template", full=True)
        missing = unresolved_references(r.get("Properties") or {}, known)
        if missing:
            raise TemplateError(f"Template format error: Unresolved resource dependencies [{', '.join(sorted(missing))}] "
                                "in the Resources block of the template", full=True)
        cond = r.get("Condition")
        if cond is not None and conditions is not None and cond not in conditions:
            raise TemplateError(f"Template format error: Unresolved dependencies [{cond}]. Cannot reference "
                                "resources in the Conditions block of the template", full=True)
    for name, out in (doc.get("Outputs") or {}).items():
        missing = unresolved_references(out, known)
        if missing:
            raise TemplateError(f"Template format error: Unresolved resource dependencies [{', '.join(sorted(missing))}] "
                                "in the Outputs block of the template", full=True)


def build(doc: dict, params: dict[str, Any], pseudo: dict[str, Any]) -> Plan:
    """TemplateError for unresolved references, unknown conditions and cycles."""
    mappings = doc.get("Mappings") or {}
    values = {**pseudo, **params}
    conditions = evaluate_conditions(doc, values, mappings)
    all_resources: dict = doc["Resources"]
    all_names = set(all_resources)
    known = all_names | set(values)
    check_references(doc, known, conditions)
    included = {k: r for k, r in all_resources.items() if r.get("Condition") is None or conditions[r["Condition"]]}
    order, deps = dependency_order(included, all_names)
    resolver = Resolver(params=values, mappings=mappings, conditions=conditions, resources=set(included))
    return Plan(included, order, deps, resolver)
