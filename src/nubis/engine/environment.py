"""Execution environments: one sandboxed runtime process, one invocation at a time.

An :class:`Environment` owns a :class:`~nubis.engine.sandbox.Sandbox`, speaks
the runtime's frame protocol on the control socket (see
``nubis/runtimes/python/bootstrap.py``) and splits the merged stdout/stderr
pipe into log events, attributing them to phases with the runtime's sentinels.

The warm path is callbacks only: ``invoke()`` writes one frame and returns a
future that the protocols resolve once both the result frame and the log
sentinel have arrived. Timeouts and crashes take a slower path (a task that
kills the process group and drains the pipe).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import secrets
import struct
import time
import uuid
from typing import Callable

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


HDR = struct.Struct("!IB")
RSS = struct.Struct("!I")  # after the type byte of every runtime frame: its peak RSS in kB
INV = struct.Struct("!qIIII")
NONE_LEN = 0xFFFFFFFF
NO_SENTINEL = 0x80  # runtime frame flag: output already drained, no sentinel follows

FT_HELLO = ord("H")
FT_INVOKE = ord("I")
FT_READY = ord("R")
FT_INIT_ERROR = ord("E")
FT_RESULT = ord("r")
FT_ERROR = ord("e")

_FRAME_KINDS = {FT_RESULT: "result", FT_ERROR: "error", FT_READY: "ready", FT_INIT_ERROR: "init_error"}

INIT_TOKEN = b"INIT"
INIT_TIMEOUT_S = 10.0  # Lambda's INIT phase limit (on-demand)
DRAIN_TIMEOUT_S = 0.5  # how long to wait for the log pipe to close after a kill
EXIT_GRACE_S = 1.0  # control socket closed but process still there: wait this long, then kill
MAX_PENDING_EVENTS = 10000  # output kept from an idle environment for its next invocation
MAX_EVENT_BYTES = 256 * 1024 - 26  # CloudWatch's per-event limit (256 KB incl. 26 bytes overhead)

# Variables the platform sets and the function's Environment cannot override.
RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def new_log_stream_name(version: str, now: float | None = None) -> str:
    """``YYYY/MM/DD/[<version>]<32 lowercase hex>`` (UTC date)."""
    day = _dt.datetime.fromtimestamp(time.time() if now is None else now, _dt.timezone.utc)
    return f"{day:%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


def lambda_environment(
    spec: FunctionSpec, *, log_stream: str, runtime_dir: str, python: str, opt: str | None = None,
    init_type: str = "on-demand",
) -> dict[str, str]:
    """The process environment of an execution environment (facts §3.4).

    Precedence, lowest first: unreserved defaults, platform extras that are not
    reserved, the user's variables, reserved platform extras (credentials),
    Lambda's reserved variables. ``opt``: where the function's layers appear
    (``/opt`` when they are mounted there, else their real directory; None
    without layers): ``<opt>/lib`` joins LD_LIBRARY_PATH, ``<opt>/bin`` PATH. ``init_type``:
    AWS_LAMBDA_INITIALIZATION_TYPE (``on-demand``, ``provisioned-concurrency`` or ``snap-start``). Every
    runtime's environment is built here (the Runtime API ones adjust it, see api_environment).
    """
    task_root = spec.code_dir
    ld = f"{task_root}:{task_root}/lib"
    host_ld = os.environ.get("LD_LIBRARY_PATH")
    if host_ld:
        ld = f"{host_ld}:{ld}"
    if opt:
        ld = f"{ld}:{opt}/lib"
    env: dict[str, str] = {
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": f"{os.path.dirname(python)}:/usr/local/bin:/usr/bin/:/bin:{opt or '/opt'}/bin",
        "LD_LIBRARY_PATH": ld,
        "PYTHONPATH": task_root,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    for k, v in spec.extra_env.items():
        if k not in RESERVED_ENV:
            env[k] = v
    for k, v in spec.environment.items():
        if k not in RESERVED_ENV:
            env[k] = v
    for k, v in spec.extra_env.items():
        if k in RESERVED_ENV:
            env[k] = v
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": runtime_dir,
            "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
        }
    )
    if spec.log_format == "JSON":  # the runtimes' own level filter (advanced logging controls)
        env["AWS_LAMBDA_LOG_LEVEL"] = spec.app_log_level or "INFO"
    if init_type == "snap-start":
        # Not available in SnapStart functions (one snapshot, many environments and log streams).
        del env["AWS_LAMBDA_LOG_GROUP_NAME"], env["AWS_LAMBDA_LOG_STREAM_NAME"]
    return env


def _now_ms() -> int:
    return int(time.time() * 1000)


class _ControlProtocol(asyncio.Protocol):
    __slots__ = ("env", "buf", "transport")

    def __init__(self, env: "Environment") -> None:
        self.env = env
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        if not buf and len(data) >= 5:
            # Fast path: a whole frame in one read.
            n, ftype = HDR.unpack_from(data)
            if len(data) == 4 + n and n >= 5:
                self.env._on_frame(ftype, data[9:], RSS.unpack_from(data, 5)[0])
                return
        buf += data
        while len(buf) >= 5:
            n, ftype = HDR.unpack_from(buf)
            end = 4 + n
            if len(buf) < end:
                break
            rss = RSS.unpack_from(buf, 5)[0] if n >= 5 else 0
            body = bytes(buf[9:end])
            del buf[:end]
            self.env._on_frame(ftype, body, rss)

    def eof_received(self):
        return False

    def connection_lost(self, exc) -> None:
        self.env._on_control_lost()


class _LogProtocol(asyncio.Protocol):
    __slots__ = ("env", "transport")

    def __init__(self, env: "Environment") -> None:
        self.env = env
        self.transport = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.env._on_log_data(data)

    def eof_received(self):
        return False

    def connection_lost(self, exc) -> None:
        self.env._on_log_eof()


class Environment:
    """One execution environment. States: new → init → ready ⇄ busy → dead."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        argv: list[str],
        runtime_dir: str,
        python: str,
        on_dead: Callable[["Environment"], None] | None = None,
        on_reaped: Callable[["Environment"], None] | None = None,
        launcher=None,
        limits=None,
        enforcer=None,
        init_type: str = "on-demand",
    ) -> None:
        self.spec = spec
        self.argv = argv
        self.init_type = init_type  # AWS_LAMBDA_INITIALIZATION_TYPE
        self.init_timeout_s = INIT_TIMEOUT_S
        self.provisioned = False  # kept initialised ahead of invocations (never reaped for idleness)
        # This environment's uid, cgroup and confinement (enforcer.EnvLimits), and who reads its
        # confinement report (enforcer.Enforcer); None: a plain process.
        self.limits = limits
        self.enforcer = enforcer
        self.oom = False  # it went past MemorySize (the kernel's OOM killer or the memory guard ended it)
        self.guard = None  # memguard.MemoryGuard once the process exists
        # Optional: an object with ``async prepare()`` and ``async launch(argv, cwd=, env=)``
        # returning a sandbox handle (e.g. the Python zygote); default: Sandbox.launch (exec).
        self.launcher = launcher
        self.runtime_dir = runtime_dir
        self.python = python
        self.on_dead = on_dead
        self.on_reaped = on_reaped
        self.on_orphan: Callable[[Outcome], None] | None = None
        self.pool: object | None = None  # owner's bookkeeping (the engine's pool)
        self.log_stream = new_log_stream_name(spec.version)
        self.state = "new"
        self.sandbox: Sandbox | None = None
        self.pid: int | None = None
        self.last_used = 0.0  # loop.time() when it last became idle
        self.invocations = 0
        self.max_rss_kb = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nonce = secrets.token_hex(8).encode()
        self._marker = b"\0" + self._nonce + b" "
        self._ctl: asyncio.Transport | None = None
        self._log: asyncio.Transport | None = None
        self._control_lost = False
        self._log_eof: asyncio.Future | None = None
        self._exited: asyncio.Future | None = None
        # log attribution
        self._log_buf = bytearray()
        self._events: list[tuple[int, str]] = []
        # current phase
        self._waiter: asyncio.Future | None = None
        self._token = b""
        self._frame: tuple[int, bytes] | None = None
        self._frame_rss = 0  # the peak RSS the runtime reported with its frame (0: not reported)
        self._phase_events: list[tuple[int, str]] | None = None
        self._t0 = 0.0
        self._t_end = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._failing = False
        self._fail_task: asyncio.Future | None = None

    # ------------------------------------------------------------------ properties

    @property
    def alive(self) -> bool:
        return self.state in ("ready", "busy", "init")

    def peak_rss_kb(self) -> int:
        sb = self.sandbox
        if sb is not None:
            v = sb.peak_rss_kb()
            if v is not None:
                if v > self.max_rss_kb:
                    self.max_rss_kb = v
                return self.max_rss_kb
            if sb.reaped and sb.max_rss_kb > self.max_rss_kb:
                self.max_rss_kb = sb.max_rss_kb
        return self.max_rss_kb

    # ------------------------------------------------------------------ INIT

    async def start(self) -> tuple[Outcome, float]:
        """Launch the runtime and run INIT. Returns (outcome, init_ms).

        outcome.kind is "ready" when the environment is ready, else
        "init_error" (body = the runtime's error JSON), "timeout" or "exit".
        """
        t0 = await self.launch()
        return await self.run_init(t0)

    def launched(self) -> bool:
        """Launched (:meth:`launch`) and still waiting for its INIT: no code of the function has run."""
        sb = self.sandbox
        return (self.state == "init" and self._ctl is not None and self._waiter is None and sb is not None
                and not self._control_lost and not sb.exited())

    async def launch(self) -> float:
        """The first half of :meth:`start`: the runtime's process, confined, its control and log
        channels connected; it waits for the hello that starts INIT (:meth:`run_init`), so none of
        the function's code has run. Returns when the launch began (perf_counter)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.state = "init"
        launcher = self.launcher
        if launcher is not None:
            await launcher.prepare()  # e.g. the zygote's own start: not this environment's INIT
        t0 = time.perf_counter()
        lim = self.limits
        opt = lim.opt if lim is not None else (self.spec.opt_dir or None)
        env = lambda_environment(self.spec, log_stream=self.log_stream, runtime_dir=self.runtime_dir,
                                 python=self.python, opt=opt, init_type=self.init_type)
        if opt:
            env["_NUBIS_OPT_DIR"] = opt  # the bootstrap puts its python dirs on sys.path
        if launcher is not None:
            sb = await launcher.launch(
                self.argv, cwd=self.spec.code_dir, env=env, limits=lim, opt_dir=self.spec.opt_dir or None
            )
        else:
            if lim is not None:
                await lim.ensure_group_async()
            sb = Sandbox.launch(
                self.argv, cwd=self.spec.code_dir, env=env, confine=lim.job_config() if lim is not None else None
            )
        self.sandbox = sb
        self.pid = sb.pid
        if self.state != "init":  # killed while the launcher was busy: INIT ends as a kill
            sb.kill()
        self._exited = loop.create_future()
        self._log_eof = loop.create_future()
        sb.watch(loop, self._on_exit)
        self._guard_memory(loop)
        try:
            self._ctl, _ = await loop.connect_accepted_socket(lambda: _ControlProtocol(self), sock=sb.control)
            log_file = os.fdopen(sb.log_fd, "rb", buffering=0, closefd=True)
            self._log, _ = await loop.connect_read_pipe(lambda: _LogProtocol(self), log_file)
        except BaseException:
            self._die()
            raise
        return t0

    async def run_init(self, t0: float | None = None) -> tuple[Outcome, float]:
        """The second half of :meth:`start`: INIT, timed from ``t0`` (default: now)."""
        if t0 is None:
            t0 = time.perf_counter()
        self._ctl.write(HDR.pack(len(self._nonce) + 1, FT_HELLO) + self._nonce)
        fut = self._arm(INIT_TOKEN, self.init_timeout_s, t0)
        outcome: Outcome = await fut
        self.check_confinement()
        if outcome.kind == "ready":
            self.state = "ready"
            outcome.max_rss_kb = outcome.max_rss_kb or self.peak_rss_kb()
        elif outcome.kind == "init_error":
            outcome.max_rss_kb = outcome.max_rss_kb or self.peak_rss_kb()
            self.kill()
        return outcome, outcome.duration_ms

    def _guard_memory(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch the environment's memory (MemorySize, Max Memory Used): see memguard."""
        if self.enforcer is None or self.pid is None or self.state == "dead":
            return
        self.guard = self.enforcer.memory_guard(self.limits, self.pid, self.spec.memory_mb, self._on_memory_exceeded)
        self.guard.start(loop, rlimit_as=self.spec.runtime.startswith("python"))

    def _on_memory_exceeded(self) -> None:
        """Past MemorySize (one of its processes was OOM-killed, or the watchdog saw too much):
        the whole environment ends, as on Lambda; a running phase ends with Runtime.OutOfMemory."""
        self.oom = True
        if self._waiter is not None and not self._failing:
            self._failing = True
            self.kill()
            self._fail_task = asyncio.ensure_future(self._fail("exit", None))
        else:
            self.kill()

    def _memory_peak_kb(self, rss_kb: int) -> int:
        """This invocation's Max Memory Used in kB: the runtime's peak RSS or the environment's
        measured peak (cgroup / watchdog), whichever is larger."""
        g = self.guard
        return max(rss_kb, g.peak_kb()) if g is not None else rss_kb

    def check_confinement(self) -> None:
        """Hand the confinement report (if any arrived) to the enforcer, which logs refusals once."""
        sb = self.sandbox
        if sb is None or self.enforcer is None:
            return
        get = getattr(sb, "confinement_report", None)
        if get is not None:
            self.enforcer.check_report(get())

    # ------------------------------------------------------------------ INVOKE (hot path)

    def invoke(self, inv: Invocation, timeout_s: float) -> asyncio.Future:
        """Send one invocation; the future resolves to an :class:`Outcome`."""
        self.state = "busy"
        self.invocations += 1
        deadline_ms = int((time.time() + timeout_s) * 1000)
        rid = inv.request_id.encode()
        arn = inv.invoked_arn.encode()
        cc = None if inv.client_context is None else inv.client_context.encode()
        tr = None if inv.trace_id is None else inv.trace_id.encode()
        payload = inv.payload
        head = INV.pack(
            deadline_ms,
            len(rid),
            len(arn),
            NONE_LEN if cc is None else len(cc),
            NONE_LEN if tr is None else len(tr),
        )
        parts = [head, rid, arn]
        if cc is not None:
            parts.append(cc)
        if tr is not None:
            parts.append(tr)
        parts.append(payload)
        size = len(head) + len(rid) + len(arn) + len(cc or b"") + len(tr or b"") + len(payload)
        if self.guard is not None:
            self.guard.begin()
        fut = self._arm(rid, timeout_s, time.perf_counter())
        self._ctl.write(HDR.pack(size + 1, FT_INVOKE) + b"".join(parts))  # type: ignore[union-attr]
        return fut

    def _arm(self, token: bytes, timeout_s: float, t0: float) -> asyncio.Future:
        loop = self._loop
        fut = loop.create_future()  # type: ignore[union-attr]
        self._waiter = fut
        self._token = token
        self._frame = None
        self._phase_events = None
        self._t0 = t0
        self._timer = loop.call_later(timeout_s, self._on_timeout, timeout_s)  # type: ignore[union-attr]
        return fut

    def _on_frame(self, ftype: int, body: bytes, rss: int = 0) -> None:
        if self._waiter is None or self._frame is not None:
            return  # unexpected frame; ignore
        self._t_end = time.perf_counter()
        if rss > self.max_rss_kb:
            self.max_rss_kb = rss
        self._frame_rss = rss
        if ftype & NO_SENTINEL:
            # The runtime saw the pipe empty after its last write: everything
            # it printed has been read (and split) before this frame arrived.
            ftype &= ~NO_SENTINEL
            if self._log_buf and self._marker not in self._log_buf:
                self._emit(self._log_buf, _now_ms())
                self._log_buf.clear()
            self._phase_events = self._events
            self._events = []
        self._frame = (ftype, body)
        if self._phase_events is not None:
            self._complete()

    def _on_sentinel(self, token: bytes) -> None:
        if self._waiter is None or token != self._token or self._phase_events is not None:
            return
        self._phase_events = self._events
        self._events = []
        if self._frame is not None:
            self._complete()

    def _complete(self) -> None:
        rss = self._frame_rss
        g = self.guard
        if g is not None:
            tripped, peak = g.end(rss)
            if tripped:
                self._on_memory_exceeded()  # e.g. a child was OOM-killed and the handler answered anyway
                return
            if peak > rss:
                rss = peak
        waiter = self._waiter
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        ftype, body = self._frame  # type: ignore[misc]
        duration_ms = (self._t_end - self._t0) * 1000.0
        kind = _FRAME_KINDS.get(ftype, "error")
        self._resolve(waiter, Outcome(kind, body, self._phase_events or [], duration_ms,
                                      max_rss_kb=rss if self._frame_rss else None))
        if g is not None and waiter is not None:
            # After the invoker's task has run (it answers the client and gives this environment
            # back), open the next invocation's memory window (see MemoryGuard.renew).
            self._loop.call_soon(self._renew_window)  # type: ignore[union-attr]

    def _renew_window(self) -> None:
        if self.state == "ready" and self.guard is not None and not self._failing:
            self.guard.renew()

    def _resolve(self, waiter: asyncio.Future | None, outcome: Outcome) -> None:
        if waiter is None:
            return
        if not waiter.done():
            waiter.set_result(outcome)
        elif waiter.cancelled() and self.on_orphan is not None:
            # The invoker was cancelled; the invocation ran on. Hand over its outcome.
            cb, self.on_orphan = self.on_orphan, None
            try:
                cb(outcome)
            except Exception:  # pragma: no cover
                logging.getLogger("nubis.engine").exception("finishing an orphaned invocation failed")

    def finish_invocation(self) -> None:
        """The caller has consumed the outcome; the environment is idle again."""
        if self.state == "busy":
            self.state = "ready"
            self.last_used = self._loop.time()  # type: ignore[union-attr]

    # ------------------------------------------------------------------ log pipe

    def _on_log_data(self, data: bytes) -> None:
        buf = self._log_buf
        marker = self._marker
        if not buf and data.startswith(marker) and data.endswith(b"\n") and data.count(b"\n") == 1:
            self._on_sentinel(data[len(marker) : -1])  # fast path: no output at all
            return
        buf += data
        ts = _now_ms()
        while True:
            i = buf.find(marker)
            if i < 0:
                j = buf.rfind(b"\n")
                if j >= 0:
                    self._emit(buf[: j + 1], ts)
                    del buf[: j + 1]
                if len(buf) > MAX_EVENT_BYTES:
                    self._emit(buf[:MAX_EVENT_BYTES], ts)
                    del buf[:MAX_EVENT_BYTES]
                return
            k = buf.find(b"\n", i + len(marker))
            if k < 0:
                j = buf.rfind(b"\n", 0, i)
                if j >= 0:
                    self._emit(buf[: j + 1], ts)
                    del buf[: j + 1]
                return
            if i > 0:
                self._emit(buf[:i], ts)
            token = bytes(buf[i + len(marker) : k])
            del buf[: k + 1]
            self._on_sentinel(token)

    def _emit(self, chunk, ts: int) -> None:
        """Split output into events; each event ends with one "\\n"."""
        text = bytes(chunk).decode("utf-8", "replace")
        if text.endswith("\n"):
            text = text[:-1]
        events = self._events
        for line in text.split("\n"):
            events.append((ts, line + "\n"))
        if len(events) > MAX_PENDING_EVENTS and self._waiter is None:
            # Output of an idle environment (background threads) that nobody
            # collects: keep the newest part only.
            del events[: len(events) - MAX_PENDING_EVENTS // 2]

    def _on_log_eof(self) -> None:
        if self._log_buf:
            self._emit(self._log_buf, _now_ms())
            self._log_buf.clear()
        if self._log_eof is not None and not self._log_eof.done():
            self._log_eof.set_result(None)

    # ------------------------------------------------------------------ failures

    def _on_timeout(self, timeout_s: float) -> None:
        self._timer = None
        if self._waiter is None or self._failing:
            return
        self._failing = True
        self.peak_rss_kb()  # last look before the kill
        self.kill()
        self._fail_task = asyncio.ensure_future(self._fail("timeout", timeout_s * 1000.0))

    def _on_control_lost(self) -> None:
        self._control_lost = True
        if self._waiter is not None and not self._failing:
            self._failing = True
            self._fail_task = asyncio.ensure_future(self._fail("exit", None))
        elif self.state == "ready":
            self.kill()

    def _on_exit(self, status: int | None, maxrss: int) -> None:
        if maxrss > self.max_rss_kb:
            self.max_rss_kb = maxrss
        if self.limits is not None and self.limits.oom_killed(status):
            self.oom = True
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(status)
        if self._waiter is not None and not self._failing:
            self._failing = True
            self._fail_task = asyncio.ensure_future(self._fail("exit", None))
        self._die()
        if self.on_reaped is not None:
            self.on_reaped(self)

    async def _fail(self, kind: str, duration_ms: float | None) -> None:
        t_detect = time.perf_counter()
        assert self._exited is not None and self._log_eof is not None
        if kind == "exit" and not self._exited.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), EXIT_GRACE_S)
            except asyncio.TimeoutError:
                pass
        self.kill()
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), DRAIN_TIMEOUT_S * 4)
        except asyncio.TimeoutError:  # pragma: no cover - unkillable?
            pass
        try:
            await asyncio.wait_for(asyncio.shield(self._log_eof), DRAIN_TIMEOUT_S)
        except asyncio.TimeoutError:
            pass
        if self._log_buf:
            self._emit(self._log_buf, _now_ms())
            self._log_buf.clear()
        status = self._exited.result() if self._exited.done() else None
        events = self._events
        self._events = []
        waiter = self._waiter
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if duration_ms is None:
            duration_ms = (t_detect - self._t0) * 1000.0
        max_kb = self._memory_peak_kb(self.max_rss_kb)
        self._die()
        self._resolve(
            waiter,
            Outcome(kind, b"", events, duration_ms, exit_status=status, max_rss_kb=max_kb or None,
                    oom=self.oom and kind == "exit"),
        )

    # ------------------------------------------------------------------ teardown

    def kill(self) -> None:
        """Kill the process group; the exit watcher reaps it."""
        if self.state in ("init", "ready", "busy"):
            self.state = "dying"
        if self._ctl is not None:
            self._ctl.close()
        if self.sandbox is not None:
            self.sandbox.kill()

    def _die(self) -> None:
        if self.state == "dead":
            return
        self.state = "dead"
        if self.guard is not None:
            self.guard.close()
        if self._ctl is not None:
            self._ctl.close()
        if self.sandbox is not None:
            self.sandbox.kill()
        if self._log is not None and self._loop is not None and not (self._log_eof and self._log_eof.done()):
            # A process that escaped the group may hold the pipe open: stop waiting.
            self._loop.call_later(DRAIN_TIMEOUT_S * 2, self._log.close)
        if self.on_dead is not None:
            self.on_dead(self)

    def close_transports(self) -> None:
        if self._ctl is not None:
            self._ctl.close()
        if self._log is not None:
            self._log.close()

    async def wait_exited(self, timeout: float) -> bool:
        if self._exited is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    @property
    def reaped(self) -> bool:
        return self.sandbox is None or self.sandbox.reaped
