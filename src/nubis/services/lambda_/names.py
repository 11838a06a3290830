"""Function names, ARNs and qualifiers as Lambda accepts them in `{FunctionName}`."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...server.errors import AwsError
from ..arns import parse_arn

_FN = re.compile(
    r"^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1}):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9-_]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
)


@dataclass(frozen=True, slots=True)
class FunctionRef:
    name: str
    qualifier: str | None
    account: str | None
    region: str | None


def parse_function_name(value: str, qualifier: str | None = None, region: str | None = None) -> FunctionRef:
    """`value` split into name, qualifier, account and region. With `region` (the caller's), an ARN of
    another region is AWS's 404: the call does not silently reach the caller's function of that name."""
    m = _FN.match(value or "")
    if not m or len(m.group("name")) > 64:
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value '{value}' at 'functionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|"
            "(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
        )
    derived = m.group("qualifier")
    if derived and qualifier and derived != qualifier:
        raise AwsError("InvalidParameterValueException",
                       "The derived qualifier from the function name does not match the specified qualifier.")
    arn_region = m.group("region")
    if region and arn_region and arn_region != region:
        raise AwsError("ResourceNotFoundException",
                       f"Functions from '{arn_region}' are not reachable in this region ('{region}')", 404, Type="User")
    return FunctionRef(m.group("name"), derived or qualifier, m.group("account"), m.group("region"))


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def parse_function_arn(arn: str) -> FunctionRef | None:
    """The function (with account, region and any qualifier) an `arn:aws:lambda:...:function:...` names;
    None for any other ARN. A malformed function name is Lambda's ValidationException."""
    parsed = parse_arn(arn, "lambda")
    name = parsed.typed("function") if parsed else None
    if parsed is None or name is None:
        return None
    ref = parse_function_name(name)
    return FunctionRef(ref.name, ref.qualifier, parsed.account, parsed.region)
