"""CloudFormation's errors, with the codes and messages its API returns."""
from __future__ import annotations

from ...server.errors import AwsError


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def template_error(detail: str) -> AwsError:
    return validation(f"Template format error: {detail}")


def stack_not_found(name: str) -> AwsError:
    return validation(f"Stack with id {name} does not exist")


def already_exists(name: str) -> AwsError:
    return AwsError("AlreadyExistsException", f"Stack [{name}] already exists", 400)


def change_set_not_found(name: str) -> AwsError:
    return AwsError("ChangeSetNotFoundException", f"ChangeSet [{name}] does not exist", 404)


def insufficient_capabilities(needed: list[str]) -> AwsError:
    return AwsError("InsufficientCapabilitiesException", f"Requires capabilities : [{', '.join(needed)}]", 400)


class TemplateError(Exception):
    """A template that cannot be processed; the message is CloudFormation's text after
    'Template format error: ' (or a whole 'Template error: ...' when `full`)."""

    def __init__(self, message: str, full: bool = False) -> None:
        super().__init__(message)
        self.full = full

    def as_aws(self) -> AwsError:
        return validation(str(self)) if self.full else template_error(str(self))

    @property
    def text(self) -> str:
        return str(self) if self.full else f"Template format error: {self}"
