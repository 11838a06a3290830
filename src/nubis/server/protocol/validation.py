"""Model constraint checks and AWS's ValidationException wording.

AWS front ends check `required`, `min`/`max`, `pattern` and `enum` before the service sees a request
and answer `ValidationException` with a fixed sentence per violation; tools and tests match on that
text, so it is reproduced here: member paths in lowerCamelCase joined by '.', list elements as
`.N.member`, values rendered the way Java's toString() does, sensitive values left out.
Scalar lists and map keys/values are reported once for the whole collection, listing every
constraint of the element shape ("Member must satisfy constraint: [..., Member must not be null]").
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from .javaregex import compile_java

__all__ = ["Violation", "validate_shape", "format_violations"]


@dataclass(slots=True)
class Violation:
    """One failed constraint: where (`path`), what was sent (`value`), which rule (`constraint`)."""

    path: str
    value: Any
    constraint: str
    sensitive: bool = False


NOT_NULL = "Member must not be null"

# (kind, argument, text); kind in {"max_len", "min_len", "max", "min", "pattern", "enum"}
_Rule = tuple[str, Any, str]
_rules_cache: dict[int, tuple[Any, tuple[_Rule, ...]]] = {}


def _num(n: Any) -> str:
    return str(n)  # the model's own literal: ints for integer/length bounds, floats stay "0.0" like Java


def _rules(shape: Any) -> tuple[_Rule, ...]:
    """Declared constraints of a shape in AWS's reporting order (max, min, pattern, enum)."""
    hit = _rules_cache.get(id(shape))
    if hit is not None and hit[0] is shape:
        return hit[1]
    md = shape.metadata
    t = shape.type_name
    rules: list[_Rule] = []
    if t in ("string", "blob", "list", "map"):
        if "max" in md:
            rules.append(("max_len", md["max"], f"Member must have length less than or equal to {_num(md['max'])}"))
        if "min" in md:
            rules.append(("min_len", md["min"], f"Member must have length greater than or equal to {_num(md['min'])}"))
    elif t in ("integer", "long", "short", "byte", "float", "double"):
        if "max" in md:
            rules.append(("max", md["max"], f"Member must have value less than or equal to {_num(md['max'])}"))
        if "min" in md:
            rules.append(("min", md["min"], f"Member must have value greater than or equal to {_num(md['min'])}"))
    if t == "string":
        if "pattern" in md:
            rules.append(("pattern", compile_java(md["pattern"]),
                          f"Member must satisfy regular expression pattern: {md['pattern']}"))
        enum = md.get("enum")
        if enum:
            rules.append(("enum", frozenset(enum), f"Member must satisfy enum value set: [{', '.join(enum)}]"))
    result = tuple(rules)
    _rules_cache[id(shape)] = (shape, result)
    return result


def _length(value: Any) -> int:
    if isinstance(value, str) and not value.isascii():
        return len(value.encode("utf-16-le")) // 2  # Java counts UTF-16 code units
    return len(value)


def _fails(rule: _Rule, value: Any) -> bool:
    kind, arg, _ = rule
    try:
        if kind == "max_len":
            return _length(value) > arg
        if kind == "min_len":
            return _length(value) < arg
        if isinstance(value, bool):
            return False
        if kind == "max":
            return value > arg
        if kind == "min":
            return value < arg
        if kind == "pattern":
            return arg is not None and isinstance(value, str) and arg.fullmatch(value) is None
        if kind == "enum":
            return isinstance(value, str) and value not in arg
    except TypeError:
        return False  # a value of the wrong Python type is not this layer's concern
    return False


def validate_shape(shape: Any, params: dict[str, Any]) -> list[Violation]:
    """All violations of a structure shape's constraints, in model member order (depth first)."""
    out: list[Violation] = []
    if shape is not None and isinstance(params, dict):
        _check_structure(shape, params, "", out)
    return out


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _check_structure(shape: Any, value: dict[str, Any], prefix: str, out: list[Violation]) -> None:
    required = shape.required_members
    for name, member in shape.members.items():
        v = value.get(name)
        path = prefix + _lower_first(name)
        if v is None:
            if name in required:
                out.append(Violation(path, None, NOT_NULL))
            continue
        _check_value(member, v, path, out)


def _check_value(shape: Any, value: Any, path: str, out: list[Violation]) -> None:
    t = shape.type_name
    sensitive = bool(shape.metadata.get("sensitive"))
    if t == "structure":
        if isinstance(value, dict) and not shape.is_document_type:
            _check_structure(shape, value, path + ".", out)
        return
    for rule in _rules(shape):
        if _fails(rule, value):
            out.append(Violation(path, value, rule[2], sensitive))
    if t == "list" and isinstance(value, list):
        _check_list(shape, value, path, sensitive, out)
    elif t == "map" and isinstance(value, dict):
        _check_map(shape, value, path, sensitive, out)


def _element_summary(shape: Any) -> str:
    texts = [r[2] for r in _rules(shape)] + [NOT_NULL]
    return "[" + ", ".join(texts) + "]"


def _scalar_ok(shape: Any, value: Any) -> bool:
    return value is not None and not any(_fails(r, value) for r in _rules(shape))


def _check_list(shape: Any, value: list[Any], path: str, sensitive: bool, out: list[Violation]) -> None:
    member = shape.member
    if member.type_name in ("structure", "list", "map"):
        for i, item in enumerate(value, 1):
            if item is not None:
                sub = f"{path}.{i}.member"
                if member.type_name == "structure":
                    if isinstance(item, dict):
                        _check_structure(member, item, sub + ".", out)
                else:
                    _check_value(member, item, sub, out)
        return
    if _rules(member) and not all(_scalar_ok(member, v) for v in value):
        out.append(Violation(path, value, f"Member must satisfy constraint: {_element_summary(member)}", sensitive))


def _check_map(shape: Any, value: dict[Any, Any], path: str, sensitive: bool, out: list[Violation]) -> None:
    key_shape, value_shape = shape.key, shape.value
    if _rules(key_shape) and not all(_scalar_ok(key_shape, k) for k in value):
        text = f"Map keys must satisfy constraint: {_element_summary(key_shape)}"
        out.append(Violation(path, value, text, sensitive))
    if value_shape.type_name in ("structure", "list", "map"):
        for k, item in value.items():
            if item is not None:
                if value_shape.type_name == "structure":
                    if isinstance(item, dict):
                        _check_structure(value_shape, item, f"{path}.{k}.", out)
                else:
                    _check_value(value_shape, item, f"{path}.{k}", out)
    elif _rules(value_shape) and not all(_scalar_ok(value_shape, v) for v in value.values()):
        text = f"Map value must satisfy constraint: {_element_summary(value_shape)}"
        out.append(Violation(path, value, text, sensitive))


# -- message text -------------------------------------------------------------------------------------

def _java_str(value: Any) -> str:
    """Render like Java's toString(), which is what AWS's messages show."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        n = len(value)
        return f"java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]"
    if isinstance(value, list):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java_str(k)}={_java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, _dt.datetime):
        return value.strftime("%a %b %d %H:%M:%S UTC %Y")
    return str(value)


def format_violations(violations: list[Violation]) -> str:
    """`N validation error(s) detected: Value 'x' at 'p' failed to satisfy constraint: C; ...`."""
    parts = []
    for v in violations:
        if v.value is None:
            shown = "Value null"
        elif v.sensitive:
            shown = "Value"
        else:
            shown = f"Value '{_java_str(v.value)}'"
        parts.append(f"{shown} at '{v.path}' failed to satisfy constraint: {v.constraint}")
    n = len(violations)
    return f"{n} validation error{'' if n == 1 else 's'} detected: " + "; ".join(parts)
