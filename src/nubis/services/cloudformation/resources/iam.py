"""AWS::IAM::* resource types. nubis has no IAM: roles and policies are recorded with their ARNs so
that other resources can refer to them, and nothing is enforced."""
from __future__ import annotations

import secrets
import string

from .base import Env, Handler, Result


def _unique_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17))


class Role(Handler):
    type = "AWS::IAM::Role"
    required = ("AssumeRolePolicyDocument",)
    replace_on = ("RoleName", "Path")

    def create(self, env: Env, props: dict) -> Result:
        name = props.get("RoleName") or env.physical_name(64)
        path = props.get("Path") or "/"
        return Result(name, {"Arn": f"arn:aws:iam::{env.account}:role{path}{name}", "RoleId": _unique_id("AROA")})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        return None


class Policy(Handler):
    type = "AWS::IAM::Policy"
    required = ("PolicyDocument", "PolicyName")

    def create(self, env: Env, props: dict) -> Result:
        return Result(env.physical_name(64), {"Id": _unique_id("")})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        return None


class ManagedPolicy(Handler):
    type = "AWS::IAM::ManagedPolicy"
    required = ("PolicyDocument",)
    replace_on = ("ManagedPolicyName", "Path")

    def create(self, env: Env, props: dict) -> Result:
        name = props.get("ManagedPolicyName") or env.physical_name(128)
        arn = f"arn:aws:iam::{env.account}:policy{props.get('Path') or '/'}{name}"
        return Result(arn, {"PolicyArn": arn})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        return None


HANDLERS = [Role(), Policy(), ManagedPolicy()]
