"""Execution environments driven over the Lambda Runtime API (Node.js, provided.*).

:class:`ApiEnvironment` keeps the contract of :class:`~nubis.engine.environment.Environment`
(same states, futures, log attribution, timeouts, crash handling — those parts are
inherited) but talks to the runtime through the HTTP Runtime API served by
:mod:`nubis.engine.runtime_api` on a port of its own, so unmodified runtime clients work.

Phases, as Lambda defines them (facts §3.1):

* INIT runs from the launch until the runtime's first ``GET …/invocation/next``; a
  ``POST …/init/error`` (or the process exiting first) fails it.
* An invocation is delivered on a parked ``next``; it ends with ``…/response`` or
  ``…/error``. The outcome is settled when the runtime asks for the ``next`` event again
  (so output printed after posting, such as curl's ``{"status":"OK"}``, still belongs to
  it), or after :data:`POST_RESPONSE_GRACE_S` at most. Duration runs from the delivery
  of the event to the posted response.

Log attribution without sentinels: stdout and stderr share one pipe; a runtime writes
its output before it sends the HTTP request that ends a phase, so when that request
arrives the engine reads the pipe dry (non-blocking) and everything the phase printed
has been seen.

:class:`ApiRuntimes` is the engine's registry of these runtimes: how to start each,
its environment variables, and what INIT_START reports.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

from . import runtime_api as rapi
from .environment import INIT_TOKEN, INIT_TIMEOUT_S, Environment, _LogProtocol, lambda_environment
from .sandbox import Sandbox
from .types import FunctionSpec, Invocation, Outcome

try:  # orjson is a project dependency; keep the module importable without it
    import orjson as _orjson

    def _dumps(obj) -> bytes:
        return _orjson.dumps(obj)

except ImportError:  # pragma: no cover
    import json as _json

    def _dumps(obj) -> bytes:
        return _json.dumps(obj, separators=(",", ":")).encode()


log = logging.getLogger("nubis.engine")

RUNTIMES_DIR = Path(__file__).resolve().parent.parent / "runtimes"
NODE_RUNTIME_DIR = RUNTIMES_DIR / "node"
NODE_CLIENT = NODE_RUNTIME_DIR / "runtime.cjs"
PROVIDED_RUNTIME_DIR = RUNTIMES_DIR / "provided"

NODE_RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x")
PROVIDED_RUNTIMES = ("provided.al2023", "provided.al2", "provided")
API_RUNTIMES = frozenset(NODE_RUNTIMES + PROVIDED_RUNTIMES)

POST_RESPONSE_GRACE_S = 0.5  # how long an answered invocation waits for the runtime's next `next`
LAMBDA_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
_PYTHON_DEFAULTS = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")


def _now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- runtimes


class ApiRuntime:
    """How one runtime family is started (subclasses: node, provided)."""

    family = ""
    runtime_dir = str(RUNTIMES_DIR)

    def __init__(self) -> None:
        self.runtime_version = ""  # INIT_START "Runtime Version: ..."
        self.runtime_version_hash = ""
        self.problem: str | None = None  # set when this host cannot run the family at all
        self._ready: asyncio.Future | None = None

    async def prepare(self) -> None:
        """Probe the host once (shared by concurrent cold starts)."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._probe())
        await asyncio.shield(self._ready)

    async def _probe(self) -> None:  # pragma: no cover - overridden
        pass

    def version_for(self, runtime: str) -> str:
        return self.runtime_version

    def describe(self, runtime: str) -> tuple[int, str, tuple]:
        """(log level, message, args) for the one-time announcement."""
        raise NotImplementedError

    def argv(self, spec: FunctionSpec, opt: str | None = None) -> tuple[list[str] | None, str | None]:
        """(argv, None) or (None, the Runtime.InvalidEntrypoint reason). ``opt``: where the
        function's layers appear inside the environment (None without layers)."""
        raise NotImplementedError

    def environment(self, spec: FunctionSpec, log_stream: str, api: str, opt: str | None = None,
                    init_type: str = "on-demand") -> dict[str, str]:
        raise NotImplementedError

    def runtime_dirs(self) -> tuple[str, ...]:
        """What the runtime reads besides the code: kept readable inside a confined environment."""
        return (self.runtime_dir,)

    def _common_env(
        self, spec: FunctionSpec, log_stream: str, api: str, exe: str, opt: str | None = None,
        init_type: str = "on-demand",
    ) -> dict[str, str]:
        env = lambda_environment(spec, log_stream=log_stream, runtime_dir=self.runtime_dir, python=exe, opt=opt,
                                 init_type=init_type)
        for k in _PYTHON_DEFAULTS:  # the Python runtime's defaults, unless the user asked for them
            if k not in spec.environment and k not in spec.extra_env:
                env.pop(k, None)
        env["AWS_LAMBDA_RUNTIME_API"] = api
        return env


class NodeRuntime(ApiRuntime):
    """nodejs18.x / 20.x / 22.x on the host's ``node``, with nubis's own runtime client."""

    family = "nodejs"
    runtime_dir = str(NODE_RUNTIME_DIR)

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        self.node = node
        self.version: tuple[int, int, int] | None = None

    async def _probe(self) -> None:
        node = self.node or shutil.which("node")
        if node is None:
            self.problem = "fork/exec node: no such file or directory (no `node` on this host's PATH)"
            return
        try:
            out = await asyncio.to_thread(
                subprocess.run, [node, "--version"], capture_output=True, text=True, timeout=60, check=True
            )
            v = out.stdout.strip().lstrip("v").split(".")
            self.version = (int(v[0]), int(v[1]), int(v[2]))
        except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
            self.problem = f"fork/exec {node}: {e}"
            return
        self.node = node
        maj, mnr, mic = self.version
        self.runtime_version = f"nodejs:{maj}.v{mnr}.{mic}"
        h = hashlib.sha256(f"nubis\0{os.path.realpath(node)}\0{self.version}\0".encode())
        h.update(NODE_CLIENT.read_bytes())
        self.runtime_version_hash = h.hexdigest()

    def describe(self, runtime: str) -> tuple[int, str, tuple]:
        if self.version is None:
            return logging.WARNING, "runtime %s cannot run here: %s", (runtime, self.problem)
        maj, mnr, mic = self.version
        level = logging.INFO if runtime == f"nodejs{maj}.x" else logging.WARNING
        return (
            level,
            "runtime %s is served by Node.js v%d.%d.%d (%s); INIT_START reports %s",
            (runtime, maj, mnr, mic, self.node, self.runtime_version),
        )

    def argv(self, spec: FunctionSpec, opt: str | None = None) -> tuple[list[str] | None, str | None]:
        if self.problem is not None:
            return None, self.problem
        # As Lambda's node bootstrap: global.gc available, 80 KB HTTP headers.
        return [self.node, "--expose-gc", "--max-http-header-size=81920", str(NODE_CLIENT)], None  # type: ignore[list-item]

    def runtime_dirs(self) -> tuple[str, ...]:
        dirs = [self.runtime_dir]
        if self.node:
            dirs.append(os.path.dirname(os.path.realpath(self.node)))
        return tuple(dirs)

    def environment(self, spec: FunctionSpec, log_stream: str, api: str, opt: str | None = None,
                    init_type: str = "on-demand") -> dict[str, str]:
        env = self._common_env(spec, log_stream, api, self.node or "node", opt, init_type)
        if "NODE_PATH" not in spec.environment and "NODE_PATH" not in spec.extra_env:
            rt = self.runtime_dir
            layers = ""
            if opt:
                maj = self.version[0] if self.version else 20
                layers = f"{opt}/nodejs/node{maj}/node_modules:{opt}/nodejs/node_modules:"
            env["NODE_PATH"] = f"{layers}{rt}/node_modules:{rt}:{spec.code_dir}"
        return env


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "this host's OS"


def _sh_is_bash() -> bool:
    return os.path.basename(os.path.realpath("/bin/sh")) == "bash"


class ProvidedRuntime(ApiRuntime):
    """provided.al2023 / provided.al2 / provided: the package's own ``bootstrap``."""

    family = "provided"
    runtime_dir = str(PROVIDED_RUNTIME_DIR)

    def __init__(self) -> None:
        super().__init__()
        self.os_name = ""
        self.bash: str | None = None
        self.sh_is_bash = True

    async def _probe(self) -> None:
        self.os_name = _os_name()
        self.sh_is_bash = _sh_is_bash()
        self.bash = shutil.which("bash")
        h = hashlib.sha256(f"nubis\0provided\0{self.os_name}\0".encode())
        self.runtime_version_hash = h.hexdigest()

    def version_for(self, runtime: str) -> str:
        # Lambda prints e.g. "provided:al2023.v23"; nubis's build of each is v1.
        return {"provided.al2023": "provided:al2023.v1", "provided.al2": "provided:al2.v1"}.get(
            runtime, "provided:al1.v1"
        )

    def describe(self, runtime: str) -> tuple[int, str, tuple]:
        extra = ""
        if not self.sh_is_bash and self.bash:
            extra = "; '#!/bin/sh' bootstraps run with bash, as /bin/sh is bash on Amazon Linux"
        return (
            logging.INFO,
            "runtime %s runs the function's bootstrap on %s (not Amazon Linux)%s",
            (runtime, self.os_name, extra),
        )

    def argv(self, spec: FunctionSpec, opt: str | None = None) -> tuple[list[str] | None, str | None]:
        path = os.path.join(spec.code_dir, "bootstrap")
        if not os.path.isdir(spec.code_dir):
            return [path], None  # the platform lost the code: launching raises, as for every runtime
        missing = not os.path.lexists(path) or (os.path.islink(path) and not os.path.exists(path))
        if missing and spec.opt_dir and opt:
            # No bootstrap in the package: a layer's /opt/bootstrap (checked where the layers really are).
            real = os.path.join(spec.opt_dir, "bootstrap")
            if os.path.lexists(real) and not (os.path.islink(real) and not os.path.exists(real)):
                return self._check(real, os.path.join(opt, "bootstrap"))
        if missing:
            return None, f"Couldn't find valid bootstrap(s): [{path} /opt/bootstrap]"
        return self._check(path, path)

    def _check(self, path: str, run: str) -> tuple[list[str] | None, str | None]:
        """``path``: the bootstrap on the host; ``run``: the same file as the environment sees it."""
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            return None, f"fork/exec {path}: permission denied"
        try:
            with open(path, "rb") as f:
                head = f.read(512)
        except OSError as e:
            return None, f"fork/exec {path}: {_go_errno(e)}"
        if head.startswith(b"#!"):
            words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
            if not words:
                return None, f"fork/exec {path}: exec format error"
            interp = words[0]
            if interp == "/bin/sh" and not self.sh_is_bash and self.bash:
                # Amazon Linux's /bin/sh is bash; the AWS tutorial's bootstrap relies on it.
                return [self.bash, *words[1:], run], None
            if interp.startswith("/") and not os.access(interp, os.X_OK):
                return None, f"fork/exec {path}: no such file or directory"
            return [run], None
        if not head.startswith(b"\x7fELF"):
            return None, f"fork/exec {path}: exec format error"
        return [run], None

    def environment(self, spec: FunctionSpec, log_stream: str, api: str, opt: str | None = None,
                    init_type: str = "on-demand") -> dict[str, str]:
        env = self._common_env(spec, log_stream, api, "/usr/local/bin/bootstrap", opt, init_type)
        env.pop("AWS_EXECUTION_ENV", None)  # not set for provided runtimes
        if "PATH" not in spec.environment and "PATH" not in spec.extra_env:
            env["PATH"] = LAMBDA_PATH if not opt or opt == "/opt" else LAMBDA_PATH.replace("/opt/bin", f"{opt}/bin")
        return env


def _go_errno(e: OSError) -> str:
    msg = e.strerror or str(e)
    return msg[:1].lower() + msg[1:]


class ApiRuntimes:
    """The engine's registry of Runtime-API runtimes (one per engine)."""

    def __init__(self) -> None:
        self.node = NodeRuntime()
        self.provided = ProvidedRuntime()
        self._announced: set[str] = set()
        self._setpriv: list[str] | None = None
        self._setpriv_probe: asyncio.Future | None = None
        # The Python zygote, whose confined spares can exec these runtimes (set by the engine).
        self.launcher = None

    @staticmethod
    def supports(runtime: str) -> bool:
        return runtime in API_RUNTIMES

    def family(self, runtime: str) -> ApiRuntime:
        return self.node if runtime in NODE_RUNTIMES else self.provided

    def environment(
        self,
        spec: FunctionSpec,
        *,
        first_request_id: str = "",
        on_dead: Callable[[Environment], None] | None = None,
        on_reaped: Callable[[Environment], None] | None = None,
        enforcer=None,
        init_type: str = "on-demand",
    ) -> "ApiEnvironment":
        return ApiEnvironment(
            spec, runtimes=self, first_request_id=first_request_id, on_dead=on_dead, on_reaped=on_reaped,
            enforcer=enforcer, init_type=init_type,
        )

    async def prepare(self, runtime: str) -> ApiRuntime:
        fam = self.family(runtime)
        await fam.prepare()
        if self._setpriv_probe is None:
            self._setpriv_probe = asyncio.ensure_future(self._probe_setpriv())
        await asyncio.shield(self._setpriv_probe)
        if runtime not in self._announced:
            self._announced.add(runtime)
            level, msg, args = fam.describe(runtime)
            log.log(level, msg, *args)
        return fam

    async def _probe_setpriv(self) -> None:
        # A runtime must not outlive a server killed with kill -9: the Python runtime arms
        # PR_SET_PDEATHSIG itself; for foreign runtimes util-linux's setpriv does it before exec.
        exe = shutil.which("setpriv")
        if exe is None:
            return
        try:
            out = await asyncio.to_thread(subprocess.run, [exe, "--help"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return
        if "--pdeathsig" in out.stdout:
            self._setpriv = [exe, "--pdeathsig", "KILL", "--"]

    def wrap(self, argv: list[str]) -> list[str]:
        return self._setpriv + argv if self._setpriv else argv


# --------------------------------------------------------------------------- environment


class ApiEnvironment(Environment):
    """One execution environment whose runtime speaks the Runtime API.

    Runtime API states (``_rstate``): ``started`` (INIT, no ``next`` yet), ``ready``
    (a ``next`` is parked), ``running`` (an event was delivered), ``sent`` (response or
    error posted, waiting for the next ``next``), ``init_error``.
    """

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        runtimes: ApiRuntimes,
        first_request_id: str = "",
        on_dead: Callable[[Environment], None] | None = None,
        on_reaped: Callable[[Environment], None] | None = None,
        enforcer=None,
        init_type: str = "on-demand",
    ) -> None:
        fam = runtimes.family(spec.runtime)
        super().__init__(
            spec, argv=[], runtime_dir=fam.runtime_dir, python="", on_dead=on_dead, on_reaped=on_reaped,
            enforcer=enforcer, init_type=init_type,
        )
        self.runtimes = runtimes
        self.family = fam
        self.runtime_version = ""
        self.runtime_version_hash = ""
        self._first_rid = first_request_id
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[rapi.ApiConnection] = set()
        self._parked: rapi.ApiConnection | None = None
        self._pending: tuple[Invocation, int] | None = None
        self._rstate = "started"
        self._rid: str | None = None
        self._result: tuple[str, bytes, float] | None = None  # posted, not yet settled
        self._grace: asyncio.TimerHandle | None = None
        self._log_fd = -1

    # ------------------------------------------------------------------ INIT

    async def start(self) -> tuple[Outcome, float]:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.state = "init"
        fam = await self.runtimes.prepare(self.spec.runtime)  # once per engine: not this environment's INIT
        t0 = time.perf_counter()
        self.runtime_version = fam.version_for(self.spec.runtime)
        self.runtime_version_hash = fam.runtime_version_hash
        if self.state != "init":
            return self._killed_during_init(t0)
        enforcer = self.enforcer
        opt = enforcer.opt_path(self.spec.opt_dir) if enforcer is not None else (self.spec.opt_dir or None)
        argv, problem = fam.argv(self.spec, opt)
        if problem is not None:
            return self._invalid_entrypoint(problem, t0)
        self._server, port = await rapi.listen(loop, self)
        if self.state != "init":
            return self._killed_during_init(t0)
        env = fam.environment(self.spec, self.log_stream, f"127.0.0.1:{port}", opt, self.init_type)
        if enforcer is not None and self.limits is None:
            self.limits = enforcer.acquire(self.spec, runtime_dirs=fam.runtime_dirs())
        confined = self.limits is not None and self.limits.cfg is not None
        try:
            if confined and self.runtimes.launcher is not None:
                sb = await self.runtimes.launcher.launch_exec(argv, cwd=self.spec.code_dir, env=env, limits=self.limits)
            else:
                if confined:
                    await self.limits.ensure_group_async()
                sb = Sandbox.launch(
                    argv if confined else self.runtimes.wrap(argv),  # type: ignore[arg-type]
                    cwd=self.spec.code_dir, env=env, confine=self.limits.job_config() if confined else None,
                )
        except OSError as e:
            self._close_api()
            if e.filename is not None and e.filename not in argv:  # e.g. the code dir is gone: the platform's problem
                raise
            return self._invalid_entrypoint(f"fork/exec {argv[0]}: {_go_errno(e)}", t0)  # type: ignore[index]
        self._exited = loop.create_future()
        self._log_eof = loop.create_future()
        self.sandbox = sb
        self.pid = sb.pid
        if self.state != "init":  # killed while it was being launched: INIT ends as a kill
            sb.kill()
        sb.control.close()  # the private channel is the Python runtime's; this one speaks HTTP
        self._log_fd = sb.log_fd
        os.set_blocking(sb.log_fd, False)  # drained synchronously when a phase ends
        fut = self._arm(INIT_TOKEN, INIT_TIMEOUT_S, t0)
        sb.watch(loop, self._on_exit)
        self._guard_memory(loop)
        try:
            log_file = os.fdopen(sb.log_fd, "rb", buffering=0, closefd=True)
            self._log, _ = await loop.connect_read_pipe(lambda: _LogProtocol(self), log_file)
        except BaseException:
            self._die()
            raise
        outcome: Outcome = await fut
        self.check_confinement()
        if outcome.kind == "ready":
            self.state = "ready"
            outcome.max_rss_kb = self.peak_rss_kb()
        elif outcome.kind == "init_error":
            outcome.max_rss_kb = self.peak_rss_kb()
            self.kill()
        return outcome, outcome.duration_ms

    def _killed_during_init(self, t0: float) -> tuple[Outcome, float]:
        # kill() came while we were preparing (engine shutdown): INIT ends as a kill.
        self._close_api()
        duration_ms = (time.perf_counter() - t0) * 1000.0
        return Outcome("exit", b"", [], duration_ms), duration_ms

    def _invalid_entrypoint(self, problem: str, t0: float) -> tuple[Outcome, float]:
        rid = self._first_rid
        msg = f"RequestId: {rid} Error: {problem}" if rid else f"Error: {problem}"
        body = _dumps({"errorType": "Runtime.InvalidEntrypoint", "errorMessage": msg})
        now = _now_ms()
        events = [(now, msg + "\n"), (now, "Runtime.InvalidEntrypoint\n")]
        duration_ms = (time.perf_counter() - t0) * 1000.0
        return Outcome("init_error", body, events, duration_ms), duration_ms

    # ------------------------------------------------------------------ INVOKE

    def invoke(self, inv: Invocation, timeout_s: float) -> asyncio.Future:
        self.state = "busy"
        self.invocations += 1
        deadline_ms = int((time.time() + timeout_s) * 1000)
        if self.guard is not None:
            self.guard.begin()
        fut = self._arm(inv.request_id.encode(), timeout_s, time.perf_counter())
        self._pending = (inv, deadline_ms)
        if self._rstate == "ready" and self._parked is not None:
            self._deliver()
        return fut

    def _deliver(self) -> None:
        conn, self._parked = self._parked, None
        inv, deadline_ms = self._pending  # type: ignore[misc]
        if conn is None or not conn.send_event(
            inv.request_id, deadline_ms, inv.invoked_arn, inv.payload, inv.trace_id, inv.client_context
        ):
            return  # the runtime went away; its exit fails the invocation
        self._pending = None
        self._rid = inv.request_id
        self._rstate = "running"
        self._t0 = time.perf_counter()

    def _settle(self, kind: str, body: bytes, t_end: float) -> None:
        """End the current phase with an outcome (phase output read to the end first)."""
        self._result = None
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        waiter = self._waiter
        if waiter is None:
            return
        sb = self.sandbox
        rss = (sb.peak_rss_kb() or 0) if sb is not None else 0  # VmHWM: this invocation's (memguard)
        g = self.guard
        if g is not None:
            tripped, peak = g.end(rss)
            if tripped:
                self._on_memory_exceeded()  # past MemorySize: the environment ends (Runtime.OutOfMemory)
                return
            if peak > rss:
                rss = peak
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drain_log()
        if self._log_buf and self._marker not in self._log_buf:
            self._emit(self._log_buf, _now_ms())
            self._log_buf.clear()
        events, self._events = self._events, []
        self._resolve(waiter, Outcome(kind, body, events, (t_end - self._t0) * 1000.0, max_rss_kb=rss or None))
        if g is not None:
            self._loop.call_soon(self._renew_window)  # type: ignore[union-attr]  (see Environment._complete)

    def _drain_log(self) -> None:
        fd = self._log_fd
        if fd < 0:
            return
        try:
            while True:
                data = os.read(fd, 262144)
                if not data:
                    return
                self._on_log_data(data)
                if len(data) < 262144:
                    return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # closed under us
            self._log_fd = -1

    def _on_grace(self) -> None:
        self._grace = None
        if self._result is not None:
            kind, body, t_end = self._result
            self._settle(kind, body, t_end)

    # ------------------------------------------------------------------ Runtime API (called by runtime_api)

    def api_connected(self, conn: rapi.ApiConnection) -> None:
        if self.state in ("dying", "dead"):
            conn.close()
            return
        self._conns.add(conn)

    def api_disconnected(self, conn: rapi.ApiConnection) -> None:
        self._conns.discard(conn)
        if self._parked is conn:
            self._parked = None

    def api_next(self, conn: rapi.ApiConnection) -> None:
        if self._failing:
            conn.close()
            return
        st = self._rstate
        if st == "sent":
            if self._result is not None:
                kind, body, t_end = self._result
                self._settle(kind, body, t_end)
            self._rstate = "ready"
        elif st == "started":
            self._rstate = "ready"
            self._settle("ready", b"", time.perf_counter())
        elif st == "init_error":
            conn.reply(403, rapi.invalid_transition(st, "Ready"))
            return
        elif st == "ready" and self._parked is not None and not self._parked.closed:
            conn.reply(403, rapi.invalid_transition(st, "Ready"))
            return
        # "running": the runtime asks again without answering; the invocation times out.
        self._parked = conn
        if st != "running" and self._pending is not None:
            self._deliver()

    def _check_invocation(self, conn: rapi.ApiConnection, request_id: str, target: str) -> bool:
        if self._failing:  # timed out or crashed meanwhile: too late to answer
            conn.close()
            return False
        st = self._rstate
        if st != "running":
            conn.reply(403, rapi.invalid_transition(st, target))
            return False
        if request_id != self._rid:
            conn.reply(400, rapi.INVALID_REQUEST_ID)
            return False
        return True

    def _posted(self, kind: str, body: bytes) -> None:
        t_end = time.perf_counter()
        self._rstate = "sent"
        self._result = (kind, body, t_end)
        if self._timer is not None:  # answered in time; only the grace for `next` is left
            self._timer.cancel()
            self._timer = None
        if self._loop is not None and self._waiter is not None:
            self._grace = self._loop.call_later(POST_RESPONSE_GRACE_S, self._on_grace)

    def api_response(self, conn: rapi.ApiConnection, request_id: str, body: bytes | None) -> None:
        if not self._check_invocation(conn, request_id, "InvocationResponse"):
            return
        if body is None:
            conn.reply(413, rapi.TOO_LARGE)
            self._posted("error", _too_large_error())
            return
        conn.accepted()
        self._posted("result", body)

    def api_error(self, conn: rapi.ApiConnection, request_id: str, body: bytes | None, error_type: str | None) -> None:
        if not self._check_invocation(conn, request_id, "InvocationErrorResponse"):
            return
        if body is None:
            conn.reply(413, rapi.TOO_LARGE)
            self._posted("error", _too_large_error())
            return
        conn.accepted()
        self._posted("error", body or _typed_error(error_type))

    def api_init_error(self, conn: rapi.ApiConnection, body: bytes, error_type: str | None) -> None:
        st = self._rstate
        if self._failing:
            conn.close()
            return
        if st != "started":
            conn.reply(403, rapi.invalid_transition(st, "InitError"))
            return
        self._rstate = "init_error"
        conn.accepted()
        self._settle("init_error", body or _typed_error(error_type), time.perf_counter())

    # ------------------------------------------------------------------ failures and teardown

    def _on_exit(self, status: int | None, maxrss: int) -> None:
        # Exiting after the response was posted is not a failure of that invocation.
        if self._result is not None and self._waiter is not None and not self._failing:
            kind, body, t_end = self._result
            self._settle(kind, body, t_end)
        super()._on_exit(status, maxrss)

    def _close_api(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        if self._server is not None:
            self._server.close()
            self._server = None
        self._parked = None
        for conn in list(self._conns):
            conn.close()
        self._conns.clear()

    def kill(self) -> None:
        self._close_api()
        if self.sandbox is None:  # never launched (invalid entrypoint)
            if self.state != "dead":
                self.state = "dead"
                if self.on_dead is not None:
                    self.on_dead(self)
                if self.on_reaped is not None:
                    self.on_reaped(self)
            return
        super().kill()

    def _on_log_eof(self) -> None:
        self._log_fd = -1  # the transport closes the fd now; never read a reused number
        super()._on_log_eof()

    def _die(self) -> None:
        self._close_api()
        self._log_fd = -1
        super()._die()

    def close_transports(self) -> None:
        self._close_api()
        self._log_fd = -1
        super().close_transports()


def _too_large_error() -> bytes:
    return _dumps(
        {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            f"({rapi.MAX_RESPONSE_BYTES} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    )


def _typed_error(error_type: str | None) -> bytes:
    # An empty error body: the invoker still learns the type the runtime gave in the header.
    return _dumps({"errorType": error_type}) if error_type else b""
