from __future__ import annotations

import asyncio
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from nubis.engine import Engine, FunctionSpec, Invocation

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

ACCOUNT = "000000000000"
REGION = "us-east-1"
SCOPE = f"{ACCOUNT}/{REGION}"


class Recorder:
    """log_sink + meter_sink that keep what they get."""

    def __init__(self) -> None:
        self.logs: list[tuple[str, str, list[tuple[int, str]]]] = []
        self.meters: list[tuple[Any, FunctionSpec, str]] = []

    def log_sink(self, spec: FunctionSpec, stream: str, events: list[tuple[int, str]]) -> None:
        self.logs.append((spec.log_group, stream, list(events)))

    def meter_sink(self, result, spec, outcome) -> None:
        self.meters.append((result, spec, outcome))

    def messages(self, i: int = -1) -> list[str]:
        return [m for _, m in self.logs[i][2]]


@pytest.fixture(params=["uvloop", "asyncio"] if uvloop is not None else ["asyncio"])
def run(request):
    """Run a coroutine to completion on a fresh loop of the parametrized kind."""

    def _run(coro):
        if request.param == "uvloop":
            return uvloop.run(coro)
        return asyncio.run(coro)

    return _run


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def make_engine(rec):
    def _make(**kw) -> Engine:
        return Engine(log_sink=rec.log_sink, meter_sink=rec.meter_sink, **kw)

    return _make


@pytest.fixture
def code(tmp_path):
    """code(source, name="app.py") -> code dir with that module."""

    def _code(source: str, name: str = "app.py", subdir: str = "fn") -> str:
        d = tmp_path / subdir
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(source))
        return str(d)

    return _code


def make_spec(code_dir: str, handler: str = "app.handler", name: str = "fn", **kw) -> FunctionSpec:
    d: dict[str, Any] = dict(
        key=f"{name}:$LATEST:{code_dir}",
        function_name=name,
        function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        version="$LATEST",
        runtime="python3.12",
        handler=handler,
        code_dir=code_dir,
        memory_mb=128,
        timeout_s=3,
        environment={},
        region=REGION,
        account=ACCOUNT,
        log_group=f"/aws/lambda/{name}",
        extra_env={},
        scope=SCOPE,
    )
    d.update(kw)
    return FunctionSpec(**d)


def make_inv(spec: FunctionSpec, payload: bytes = b"{}", **kw) -> Invocation:
    return Invocation(request_id=str(uuid.uuid4()), payload=payload, invoked_arn=spec.function_arn, **kw)


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


async def until(predicate, timeout: float = 10.0) -> bool:
    """Poll ``predicate`` on the event loop until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()
