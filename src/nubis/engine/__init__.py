"""Runs functions: execution environments, pools, concurrency, logs, metering.

Knows no AWS *API* (nothing from ``nubis.services`` or ``nubis.server``), but
implements Lambda's execution semantics: log lines, error payloads, timeouts.
"""

from .engine import Engine
from .types import EngineClosed, FunctionSpec, Invocation, InvocationResult, Throttled

__all__ = ["Engine", "EngineClosed", "FunctionSpec", "Invocation", "InvocationResult", "Throttled"]
