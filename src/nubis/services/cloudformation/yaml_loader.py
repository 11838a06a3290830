"""CloudFormation's YAML: short-form intrinsic tags (`!Ref`, `!GetAtt A.B`, `!Sub`, ...) become their
long JSON forms, and dates, timestamps and `yes`/`no` stay as CloudFormation reads them."""
from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_yaml"]

_TAGS = ("Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub", "Transform",
         "And", "Equals", "If", "Not", "Or", "Length", "ToJsonString")


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: `AWSTemplateFormatVersion: 2010-09-09` is a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _function(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        return {name: _node_value(loader, node)}
    return construct


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
    value = _node_value(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


for _tag in _TAGS:
    _Loader.add_constructor(f"!{_tag}", _function(f"Fn::{_tag}"))
_Loader.add_constructor("!Ref", _function("Ref"))
_Loader.add_constructor("!Condition", _function("Condition"))
_Loader.add_constructor("!GetAtt", _get_att)


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    out: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "found an unhashable key", key_node.start_mark)
        out[str(key) if not isinstance(key, str) else key] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str) -> Any:
    """Parse a YAML template; yaml.YAMLError on bad syntax."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
