"""Lambda's own checks beyond the model's shape constraints, with AWS's codes and messages."""
from __future__ import annotations

from typing import Any

import orjson

from ...server.errors import AwsError
from . import limits


def _validation(value: Any, member: str, constraint: str) -> AwsError:
    return AwsError("ValidationException",
                    f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
                    f"{constraint}")


def check_runtime(runtime: str | None) -> None:
    if runtime is None:
        return
    if runtime in limits.DEPRECATED_RUNTIMES:
        raise AwsError("InvalidParameterValueException",
                       f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS "
                       "Lambda functions. We recommend you use a supported runtime while creating or updating "
                       "functions.")
    if runtime not in limits.SUPPORTED_RUNTIMES:
        raise AwsError("InvalidParameterValueException",
                       f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value "
                       f"set: [{', '.join(limits.SUPPORTED_RUNTIMES)}] or be a valid ARN (nubis runs these runtimes "
                       "today)")


def runtime_enum_error(value: Any) -> AwsError:
    return AwsError("InvalidParameterValueException",
                    f"Value {value} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
                    f"[{', '.join(limits.SUPPORTED_RUNTIMES)}] or be a valid ARN")


def _bounded(value: int | None, member: str, low: int, high: int) -> None:
    if value is None:
        return
    if value < low:
        raise _validation(value, member, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise _validation(value, member, f"Member must have value less than or equal to {high}")


def check_memory(memory: int | None) -> None:
    _bounded(memory, "memorySize", limits.MEMORY_MIN, limits.MEMORY_MAX)


def check_timeout(timeout: int | None) -> None:
    _bounded(timeout, "timeout", limits.TIMEOUT_MIN, limits.TIMEOUT_MAX)


def check_ephemeral(storage: dict | None) -> None:
    if storage is not None:
        _bounded(storage.get("Size"), "ephemeralStorage.size", limits.EPHEMERAL_MIN, limits.EPHEMERAL_MAX)


def check_environment(env: dict | None) -> None:
    if not env:
        return
    variables = env.get("Variables") or {}
    reserved = sorted(k for k in variables if k in limits.RESERVED_ENV_KEYS)
    if reserved:
        raise AwsError("InvalidParameterValueException",
                       "Lambda was unable to configure your environment variables because the environment variables "
                       "you have provided contains reserved keys that are currently not supported for modification. "
                       f"Reserved keys used in this request: {', '.join(reserved)}")
    measured = orjson.dumps(variables).decode()
    if len(measured.encode()) > limits.ENV_VARS_MAX_BYTES:
        raise AwsError("InvalidParameterValueException",
                       "Lambda was unable to configure your environment variables because the environment variables "
                       f"you have provided exceeded the 4KB limit. String measured: {measured}")


def check_architectures(archs: list | None) -> None:
    if archs is not None and len(archs) != 1:
        raise _validation(f"[{', '.join(archs)}]", "architectures", "Member must have length less than or equal to 1"
                          if archs else "Member must have length greater than or equal to 1")


def check_config(params: dict) -> None:
    """Everything UpdateFunctionConfiguration and CreateFunction share."""
    check_runtime(params.get("Runtime"))
    check_memory(params.get("MemorySize"))
    check_timeout(params.get("Timeout"))
    check_environment(params.get("Environment"))
    check_ephemeral(params.get("EphemeralStorage"))
