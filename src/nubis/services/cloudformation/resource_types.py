"""Which resource types a template may name, as CloudFormation decides before it creates anything: the
types AWS recognises (resource_types.txt), SAM's under the AWS::Serverless-2016-10-31 transform, and
Custom::<name>. A misspelt type (AWS::Lambda::Functio) is refused at CreateStack, CreateChangeSet and
ValidateTemplate, not discovered halfway through a deployment."""
from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from pathlib import Path

__all__ = ["SAM_TYPES", "aws_types", "unrecognized"]

SAM_TYPES = frozenset(f"AWS::Serverless::{kind}" for kind in (
    "Function", "Api", "HttpApi", "SimpleTable", "LayerVersion", "Application", "StateMachine", "Connector",
    "GraphQLApi"))
_CUSTOM = re.compile(r"Custom::[A-Za-z0-9_@-]{1,60}")
_DATA = "resource_types.txt"


@cache
def aws_types() -> frozenset[str]:
    """Every AWS::* and Alexa::* type of the CloudFormation registry (read once)."""
    text = files(__package__).joinpath(_DATA).read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def unrecognized(types: Iterable[str], sam: bool) -> list[str]:
    """The types CloudFormation would not recognise, sorted; `sam`: the template declares SAM's transform."""
    known = aws_types()
    return sorted({t for t in types
                   if t not in known and not _CUSTOM.fullmatch(t) and not (sam and t in SAM_TYPES)})


def _regenerate(providers: Path) -> None:
    """Rewrite resource_types.txt from cfn-lint's per-region type lists (cfnlint/data/schemas/providers)."""
    import ast

    names: set[str] = set()
    for module in sorted(providers.glob("[a-z]*.py")):
        for node in ast.parse(module.read_text()).body:
            if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "types":
                names |= {t for t in ast.literal_eval(node.value) if t.startswith(("AWS::", "Alexa::"))}
    path = Path(__file__).with_name(_DATA)
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    path.write_text("\n".join(header + sorted(names)) + "\n")


if __name__ == "__main__":
    _regenerate(Path(sys.argv[1]))
