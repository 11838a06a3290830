"""Python zygote: millisecond cold starts by forking environments from a warm interpreter.

One :class:`ZygoteLauncher` per Python interpreter. On the first cold start it starts
``runtimes/python/zygote.py`` with that interpreter (its own session, dies with the server): the
zygote loads the runtime bootstrap and the common libraries (``json``, ``boto3``, ``botocore``,
``urllib3`` by default; Engine argument or ``NUBIS_ZYGOTE_PRELOAD``), freezes its heap for the
garbage collector and then forks one child per new execution environment. The child runs the
bootstrap's ``main()``: INIT is still the import of the handler module, timed as Init Duration.

The fork itself is off the cold-start path: the zygote keeps ``SPARES`` *spare* children forked in
advance (new session, PR_SET_PDEATHSIG, signals reset, its copy-on-write faults taken by a
rehearsal of the runtime's start, confinement and cgroup prepared), each waiting on a job socket
the engine holds. Two, because preparing one takes 10-20 ms of wall time (joining its cgroups
waits for RCU grace periods): back-to-back cold starts would otherwise wait for it. A cold start
is one message from the engine straight to the oldest spare (the function's environment, cwd,
control socket and log pipe); its replacement is asked for ``SPARE_DELAY_S`` later, so that its
fork does not compete with the INIT for the CPU. Launches that find no spare wait for one (a
burst asks for one per launch: the launches of one loop iteration in one message of at most
``SPARE_BATCH``, which the zygote forks as a batch).

The environment gets a :class:`ForkedSandbox`, the same handle as the exec launcher's
:class:`~nubis.engine.sandbox.Sandbox` (pid, control socket, log pipe, ``watch``, ``kill``). The
zygote reaps its children and reports each exit (wait status, peak RSS), so exit wording and Max
Memory Used stay as they were. Killing an environment kills its process group.

The zygote is an optimisation that must not show. An environment is started with the exec
launcher instead when the function could see a difference: its code (or its PYTHONPATH) shadows a
module the zygote has loaded, it ships native libraries for LD_LIBRARY_PATH (read once by the
dynamic loader at exec), or it sets a variable read at interpreter start (PYTHON*, LANG, LC_*,
LD_*, MALLOC_*, GLIBC_TUNABLES) to something else than the zygote was started with. The exec
launcher is also the fallback, with a logged warning, when the zygote cannot start (retried after
``RETRY_AFTER_S``). A zygote that dies is started again on the next cold start; its environments
die with it (PR_SET_PDEATHSIG). It is stopped once the runtime has had no environments for the
keep-alive period, and on shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterable, Sequence

from .sandbox import ExitCallback, Sandbox, open_status, pidfd_exited, read_vmhwm

try:  # orjson is a project dependency (several times faster on the cold-start path); stdlib fallback
    from orjson import dumps as _orjson_dumps, loads as _loads
except ImportError:  # pragma: no cover
    _orjson_dumps = None
    _loads = json.loads


def _dumps(obj) -> bytes:
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(obj)
        except TypeError:  # e.g. a lone surrogate in a variable: json escapes it as the zygote reads it
            pass
    return json.dumps(obj, separators=(",", ":")).encode()

log = logging.getLogger("nubis.engine.zygote")

PYTHON_RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtimes" / "python"
ZYGOTE_SCRIPT = PYTHON_RUNTIME_DIR / "zygote.py"
PYTHON_BOOTSTRAP = PYTHON_RUNTIME_DIR / "bootstrap.py"

DEFAULT_PRELOAD = ("json", "boto3", "botocore", "urllib3")
PRELOAD_ENV = "NUBIS_ZYGOTE_PRELOAD"  # comma- or space-separated module names; empty: none
ENABLE_ENV = "NUBIS_ZYGOTE"  # "0" / "off" / "false": exec every environment

START_TIMEOUT_S = 30.0  # importing boto3 on a loaded host can take seconds
FORK_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
SPARES = 2  # spares kept in reserve: back-to-back cold starts each find one prepared
SPARE_BATCH = 32  # spares asked for in one message (a burst)
SPARE_DELAY_S = 0.025  # fork the next spare this long after one was taken (off the INIT's CPU)
RETRY_AFTER_S = 30.0  # after a failed start, exec environments this long before trying again

# Read by the interpreter or the dynamic loader when the process starts: a function that sets
# them differently from the zygote's values gets an exec'd environment.
_STARTUP_PREFIXES = ("PYTHON", "LC_", "LD_", "MALLOC_")
_STARTUP_KEYS = frozenset({"LANG", "LANGUAGE", "GLIBC_TUNABLES"})
# Imported at startup by `python bootstrap.py` from the task root if it has them.
_ALWAYS_SHADOWED = frozenset({"sitecustomize", "usercustomize"})
_SIGKILLED = int(signal.SIGKILL)  # as a wait status: killed by SIGKILL


def preload_from_env(default: Sequence[str] = DEFAULT_PRELOAD) -> tuple[str, ...]:
    raw = os.environ.get(PRELOAD_ENV)
    if raw is None:
        return tuple(default)
    return tuple(n for n in raw.replace(",", " ").split() if n)


def enabled_from_env() -> bool:
    return os.environ.get(ENABLE_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def zygote_base_env(python: str) -> dict[str, str]:
    """The startup-relevant part of every environment's variables (see ``lambda_environment``)."""
    env = {
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": f"{os.path.dirname(python)}:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    host_ld = os.environ.get("LD_LIBRARY_PATH")
    if host_ld:
        env["LD_LIBRARY_PATH"] = host_ld
    return env


def _is_startup_key(k: str) -> bool:
    return k.startswith(_STARTUP_PREFIXES) or k in _STARTUP_KEYS


def _is_shared_lib(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


def _has_shared_libs(d: str) -> bool:
    try:
        with os.scandir(d) as it:
            return any(_is_shared_lib(e.name) for e in it)
    except OSError:
        return False


class _ZygoteGone(Exception):
    pass


class SnapshotUnavailable(Exception):
    """No SnapStart snapshot for this function: its environments start on demand instead."""


class _Spare:
    """A child the zygote forked in advance: its pid, a pidfd on it, its job socket, and the
    cgroup it joined while waiting (or None)."""

    __slots__ = ("pid", "pidfd", "job", "group", "release")

    def __init__(self, pid: int, pidfd: int, job: socket.socket, group=None, release=None) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.job = job
        self.group = group
        self.release = release  # called with the group when the spare is let go

    def take_group(self):
        group, self.group = self.group, None
        return group

    def close(self) -> None:
        """Let it go: EOF on its job socket makes it exit (the zygote reaps it)."""
        self.job.close()
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        group = self.take_group()
        if group is not None and self.release is not None:
            self.release(group)


# --------------------------------------------------------------------------- the handle


class ForkedSandbox:
    """An environment process forked by the zygote (the engine is not its parent).

    Its exit is learnt from the zygote's report (wait status and ru_maxrss of ``wait4``); the
    engine holds a pidfd the zygote opened before it could reap the child, so ``kill`` never hits
    a reused pid. If the zygote dies, its children die with it and the pidfd tells when.
    """

    def __init__(
        self,
        owner: "ZygoteLauncher",
        pid: int,
        pidfd: int,
        control: socket.socket,
        log_fd: int,
        report_sock: socket.socket | None = None,
    ) -> None:
        self.pid = pid
        self.control = control
        self.log_fd = log_fd
        self._report_sock = report_sock  # the spare's job socket: its confinement report comes back on it
        self.job_sock: socket.socket | None = None  # a SnapStart snapshot's channel (fork_snapshot)
        self.zygote_pid = owner.pid
        self.exit_status: int | None = None
        self.max_rss_kb = 0
        self.reaped = False
        self._pidfd: int | None = pidfd
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_exit: ExitCallback | None = None
        self._lost_reader = False
        sfd = open_status(pid)
        if sfd is not None and pidfd_exited(pidfd):
            os.close(sfd)  # already exited: the pid may belong to another process by now
            sfd = None
        self._status_fd = sfd

    def exited(self) -> bool:
        """Has the process exited (even if nobody has noticed yet)? One poll(2) on the pidfd."""
        return self.reaped or self._pidfd is None or pidfd_exited(self._pidfd)

    def confinement_report(self) -> dict | None:
        """The report the child sent once it had confined itself (non-blocking; read once)."""
        sock = self._report_sock
        if sock is None:
            return None
        try:
            data = sock.recv(1 << 20)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        sock.close()
        self._report_sock = None
        try:
            return _loads(data).get("report") if data else None
        except (ValueError, AttributeError):
            return None

    def peak_rss_kb(self) -> int | None:
        fd = self._status_fd
        if fd is None or self.reaped:
            return None
        v = read_vmhwm(fd)
        if v is not None and v > self.max_rss_kb:
            self.max_rss_kb = v
        return v

    def watch(self, loop: asyncio.AbstractEventLoop, on_exit: ExitCallback) -> None:
        self._loop = loop
        if self.reaped:
            on_exit(self.exit_status, self.max_rss_kb)
        else:
            self._on_exit = on_exit

    def kill(self) -> None:
        """SIGKILL the process group (the zygote kills what is left of it when the leader is gone)."""
        if self.reaped or self._pidfd is None:
            return
        if not pidfd_exited(self._pidfd):
            # Still running, so its pid (the group id) is still its own.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def reap_blocking(self) -> None:
        """Kill and wait (up to 5 s) for the process to be gone, outside a running loop."""
        if self.reaped:
            return
        self.kill()
        if self._pidfd is not None:
            pidfd_exited(self._pidfd, 5000)
        self._finish(None, 0)

    # ------------------------------------------------------------------ from the launcher

    def _reported(self, status: int | None, rss: int) -> None:
        self._finish(status, rss)

    def _zygote_lost(self, loop: asyncio.AbstractEventLoop) -> None:
        """The zygote died: the child gets SIGKILL from PR_SET_PDEATHSIG; kill its group too."""
        if self.reaped:
            return
        self.peak_rss_kb()
        self.kill()
        if self._pidfd is None or loop.is_closed() or pidfd_exited(self._pidfd):
            self._finish(_SIGKILLED, self.max_rss_kb)
            return
        self._lost_reader = True
        self._loop = loop
        loop.add_reader(self._pidfd, self._on_pidfd)

    def _on_pidfd(self) -> None:
        if self._pidfd is not None and pidfd_exited(self._pidfd):
            self._finish(_SIGKILLED, self.max_rss_kb)

    def _finish(self, status: int | None, rss: int) -> None:
        if self.reaped:
            return
        self.reaped = True
        self.exit_status = status
        if rss > self.max_rss_kb:
            self.max_rss_kb = rss
        if self._pidfd is not None:
            if self._lost_reader and self._loop is not None:
                try:
                    self._loop.remove_reader(self._pidfd)
                except Exception:  # pragma: no cover
                    pass
            os.close(self._pidfd)
            self._pidfd = None
        if self._status_fd is not None:
            os.close(self._status_fd)
            self._status_fd = None
        if self._report_sock is not None:
            self._report_sock.close()
            self._report_sock = None
        cb, self._on_exit = self._on_exit, None
        if cb is not None:
            cb(status, self.max_rss_kb)


# --------------------------------------------------------------------------- the launcher


def send_job(spare, data: bytes, limits) -> tuple[socket.socket, int] | None:
    """Give a spare its job with a fresh control socket and log pipe: (control socket, log read end).
    None when the spare is gone; what was made for it is closed and `limits` released."""
    ctl_parent, ctl_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log_r, log_w = os.pipe()
    try:
        socket.send_fds(spare.job, [data], [ctl_child.fileno(), log_w])
    except OSError:
        ctl_parent.close()
        os.close(log_r)
        spare.close()
        if limits is not None:
            limits.unadopt()
        return None
    finally:
        ctl_child.close()
        os.close(log_w)
    return ctl_parent, log_r


class ZygoteLauncher:
    """Starts Python execution environments: forked from the zygote, or exec'd as a fallback.

    Used by :class:`~nubis.engine.environment.Environment`: ``await prepare()`` (outside the
    timed INIT: starting the zygote is the platform's cost, not the function's), then
    ``await launch(argv, cwd=..., env=...)`` returns a sandbox handle.
    """

    def __init__(
        self,
        python: str,
        *,
        bootstrap: str | os.PathLike = PYTHON_BOOTSTRAP,
        preload: Iterable[str] | None = None,
        keep_alive_s: float = 600.0,
        enabled: bool | None = None,
        confinement: "dict | None" = None,
        spare_group=None,
        release_group=None,
    ) -> None:
        self.python = python
        # The spares' (function-independent) confinement, or None: environments are not confined.
        self.spare_confine = confinement
        # () -> a new cgroup (or None) that each spare joins while it waits; and its disposal.
        self.spare_group = spare_group
        self.release_group = release_group
        self._tag = 0
        self._pending_groups: dict[int, object] = {}  # spare request tag -> the group it brings
        self.bootstrap = str(bootstrap)
        self.argv = [python, self.bootstrap]
        self.preload = tuple(preload) if preload is not None else preload_from_env()
        self.keep_alive_s = float(keep_alive_s)
        self.enabled = enabled_from_env() if enabled is None else bool(enabled)
        self.base_env = zygote_base_env(python)
        self.state = "stopped"  # stopped | starting | ready | failed
        self.pid: int | None = None
        self.proc: subprocess.Popen | None = None
        self.starts = 0  # zygote processes started
        self.forks = 0  # environments forked
        self.execs = 0  # environments exec'd instead
        self.last_start_s: float | None = None  # how long the last start took
        self.preloaded: frozenset[str] = frozenset()
        self.failed_imports: dict[str, str] = {}
        self.hello_version: tuple[int, int] | None = None
        self._shadowed: frozenset[str] = _ALWAYS_SHADOWED
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._proc_pidfd: int | None = None
        self._starting: asyncio.Future | None = None
        self._hello: asyncio.Future | None = None
        self._spares: list[_Spare] = []  # forked in advance, waiting for a function (oldest first)
        self._spare_waiters: list[asyncio.Future] = []
        self._spares_asked = 0  # asked of the zygote, not arrived yet
        self._write_wait = False  # a spare request waits for room in the socket buffer
        self._replenish: asyncio.Handle | None = None
        self._asking_soon = False  # _ask_spares is due at the end of this loop iteration
        self._children: dict[int, ForkedSandbox] = {}
        self._idle_since: float | None = None
        self._retry_at = 0.0
        self._stopping = False
        self.closed = False  # after close(): no zygote any more, environments are exec'd
        self._scan_cache: dict[str, tuple[frozenset[str], bool]] = {}

    # ------------------------------------------------------------------ public

    @property
    def live_children(self) -> int:
        return len(self._children)

    async def prepare(self) -> None:
        """Make sure the zygote runs (or has failed, and environments will be exec'd)."""
        if self.enabled:
            await self._ensure()

    async def launch(
        self, argv: Sequence[str], *, cwd: str, env: dict[str, str], limits=None, opt_dir: str | None = None
    ):
        """A started environment process: a :class:`ForkedSandbox` or an exec'd :class:`Sandbox`.

        ``limits``: the environment's ``enforcer.EnvLimits`` (or None: not confined); ``opt_dir``:
        the real directory of its merged layers (they may shadow what the zygote has loaded)."""
        confined = limits is not None and limits.cfg is not None
        if self.enabled and list(argv) == self.argv and await self._ensure():
            if self._compatible(cwd, env, opt_dir) and (not confined or self.spare_confine is not None):
                try:
                    sb = await self._fork(cwd, env, limits if confined else None)
                except _ZygoteGone:
                    pass  # started again by the next cold start; this one is exec'd
                else:
                    self.forks += 1
                    return sb
        self.execs += 1
        if confined:
            await limits.ensure_group_async()
        return Sandbox.launch(argv, cwd=cwd, env=env, confine=limits.job_config() if confined else None)

    async def launch_exec(self, argv: Sequence[str], *, cwd: str, env: dict[str, str], limits):
        """Start a runtime that is not this Python (Node.js, a custom bootstrap) confined by ``limits``.

        From a spare when the zygote runs: it is confined and in its cgroup already, so the cold
        start saves the confinement wrapper's interpreter start and the cgroup migration (an RCU
        grace period); the spare then execs ``argv``. Else through ``confinement.exec_argv``'s
        wrapper (``Sandbox.launch``)."""
        confined = limits is not None and limits.cfg is not None
        if confined and self.enabled and self.spare_confine is not None and await self._ensure():
            try:
                sb = await self._fork(cwd, env, limits, exec_argv=list(argv))
            except _ZygoteGone:
                pass
            else:
                self.forks += 1
                return sb
        if confined:
            await limits.ensure_group_async()
        return Sandbox.launch(argv, cwd=cwd, env=env, confine=limits.job_config() if confined else None)

    def reap_idle(self) -> None:
        """Stop the zygote once it has had no environments for the keep-alive period."""
        if (
            self.state == "ready"
            and not self._children
            and not self._spare_waiters
            and self._idle_since is not None
            and time.monotonic() - self._idle_since >= self.keep_alive_s
        ):
            log.info("stopping the Python zygote (pid %s): no environments for %g s", self.pid, self.keep_alive_s)
            proc, pidfd = self._close()
            if proc is not None:
                asyncio.ensure_future(_wait_proc(proc, pidfd, STOP_TIMEOUT_S))

    async def close(self) -> None:
        """Stop for good (engine shutdown)."""
        self.closed = True
        await self.stop()

    async def stop(self) -> None:
        """Stop the zygote (its remaining environments are killed) and reap it."""
        if self.state == "starting" and self._starting is not None:
            await asyncio.shield(self._starting)
        if self.state != "ready":
            if self.state == "failed":
                self.state = "stopped"
            return
        proc, pidfd = self._close()
        if proc is not None:
            await _wait_proc(proc, pidfd, STOP_TIMEOUT_S)

    def _close(self) -> tuple[subprocess.Popen | None, int | None]:
        """Close the channel: the zygote kills its children and exits. Returns what to reap."""
        proc, pidfd = self.proc, self._take_proc_pidfd()
        self.proc = None
        self._stopping = True
        try:
            self._lost()
        finally:
            self._stopping = False
        if proc is None and pidfd is not None:  # pragma: no cover
            os.close(pidfd)
        return proc, pidfd

    # ------------------------------------------------------------------ start

    async def _ensure(self) -> bool:
        if self.closed:
            return False
        loop = asyncio.get_running_loop()
        if self.state == "ready":
            if self._loop is loop:
                return True
            await self.stop()  # started under another (now gone) event loop
        if self.state == "starting":
            assert self._starting is not None
            return await asyncio.shield(self._starting)
        if self.state == "failed":
            if time.monotonic() < self._retry_at:
                return False
            self.state = "stopped"
        self.state = "starting"
        self._starting = loop.create_future()
        ok = False
        try:
            ok = await self._start(loop)
        finally:
            if not ok:
                self.state = "failed"
                self._retry_at = time.monotonic() + RETRY_AFTER_S
            self._starting.set_result(ok)
        return ok

    async def _start(self, loop: asyncio.AbstractEventLoop) -> bool:
        t0 = time.perf_counter()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(self.base_env)
        env.update(
            _NUBIS_ZYGOTE_FD=str(child.fileno()),
            _NUBIS_ZYGOTE_PARENT=str(os.getpid()),
            _NUBIS_ZYGOTE_PRELOAD=",".join(self.preload),
        )
        if self.spare_confine is not None:
            from . import confinement

            env["_NUBIS_CONFINEMENT"] = confinement.__file__
            env["_NUBIS_SPARE_CONFINE"] = json.dumps(self.spare_confine, separators=(",", ":"))
        try:
            proc = subprocess.Popen(
                [self.python, str(ZYGOTE_SCRIPT), self.bootstrap],
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(child.fileno(),),
                close_fds=True,
                start_new_session=True,  # no terminal's ^C; it stops when the engine says so
            )
        except OSError as e:
            parent.close()
            child.close()
            log.warning("the Python zygote could not start (%s); environments are exec'd", e)
            return False
        finally:
            child.close()
        self.starts += 1
        self.proc = proc
        self.pid = proc.pid
        try:
            self._proc_pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # pragma: no cover
            self._proc_pidfd = None
        self._attach(parent, loop)
        try:
            hello = await asyncio.wait_for(asyncio.shield(self._hello), START_TIMEOUT_S)
        except BaseException as e:
            proc, pidfd = self._close()
            if not isinstance(e, (asyncio.TimeoutError, _ZygoteGone)):
                if proc is not None:
                    proc.kill()
                    proc.wait()
                if pidfd is not None:
                    os.close(pidfd)
                raise
            reason = "no answer in %.0f s" % START_TIMEOUT_S if isinstance(e, asyncio.TimeoutError) else "it exited"
            status = await _wait_proc(proc, pidfd, 2.0) if proc is not None else None
            log.warning(
                "the Python zygote (%s) could not start: %s (exit status %s); environments are exec'd",
                self.python,
                reason,
                status,
            )
            return False
        self.state = "ready"
        self.last_start_s = time.perf_counter() - t0
        self._ask_spares()  # the zygote forked one spare after its hello; the rest of the reserve
        self.preloaded = frozenset(hello.get("preloaded") or ())
        pv = hello.get("python")
        self.hello_version = (int(pv[0]), int(pv[1])) if isinstance(pv, list) and len(pv) >= 2 else None
        self.failed_imports = dict(hello.get("failed") or {})
        self._shadowed = self.preloaded | _ALWAYS_SHADOWED
        self._idle_since = time.monotonic()
        for name, err in self.failed_imports.items():
            log.warning("Python zygote: preloading %r failed (%s); skipped", name, err)
        log.info(
            "Python zygote started (pid %d, %.0f ms, preloaded: %s)",
            proc.pid,
            self.last_start_s * 1000,
            ", ".join(n for n in self.preload if n not in self.failed_imports) or "nothing",
        )
        return True

    def _take_proc_pidfd(self) -> int | None:
        fd, self._proc_pidfd = self._proc_pidfd, None
        return fd

    # ------------------------------------------------------------------ compatibility

    def _scan(self, d: str) -> tuple[frozenset[str], bool]:
        """(top-level module names a directory provides, whether it ships native libraries)."""
        hit = self._scan_cache.get(d)
        if hit is not None:
            return hit
        names = set()
        native = False
        with os.scandir(d) as it:
            for e in it:
                n = e.name
                if e.is_dir():
                    p = e.path
                    if os.path.exists(p + "/__init__.py") or os.path.exists(p + "/__init__.pyc"):
                        names.add(n)  # a namespace package would not shadow an installed module
                    if n == "lib" and _has_shared_libs(p):
                        native = True
                elif n.endswith((".py", ".pyc")):
                    names.add(n.partition(".")[0])
                elif _is_shared_lib(n):
                    if n.startswith("lib"):
                        native = True  # found through LD_LIBRARY_PATH
                    names.add(n.partition(".")[0])
        hit = (frozenset(names), native)
        if len(self._scan_cache) > 4096:
            self._scan_cache.clear()
        self._scan_cache[d] = hit
        return hit

    def _compatible(self, cwd: str, env: dict[str, str], opt_dir: str | None = None) -> bool:
        """Would a forked child look exactly like an exec'd one to this function?"""
        base = self.base_env
        task_root = env.get("LAMBDA_TASK_ROOT") or cwd
        for k, v in env.items():
            if k == "PYTHONPATH" or k == "LD_LIBRARY_PATH" or not _is_startup_key(k):
                continue
            if base.get(k) != v:
                return False
        for k in base:
            if _is_startup_key(k) and k != "LD_LIBRARY_PATH" and k not in env:
                return False
        ld = f"{task_root}:{task_root}/lib"
        if base.get("LD_LIBRARY_PATH"):
            ld = f"{base['LD_LIBRARY_PATH']}:{ld}"
        got_ld = env.get("LD_LIBRARY_PATH")
        opt = env.get("_NUBIS_OPT_DIR")
        if opt and got_ld == f"{ld}:{opt}/lib":
            got_ld = ld
        if got_ld != ld:
            return False
        dirs = [task_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != task_root]
        if opt_dir:
            # The layers: seen at /opt inside the environment, scanned where they really are.
            if _has_shared_libs(os.path.join(opt_dir, "lib")):
                return False
            maj, mnr = self._py_version()
            dirs += [os.path.join(opt_dir, "python", "lib", f"python{maj}.{mnr}", "site-packages"),
                     os.path.join(opt_dir, "python")]
        shadowed = self._shadowed
        for d in dirs:
            try:
                names, native = self._scan(d)
            except OSError:
                if d == task_root:
                    return False  # let the exec launcher raise what Popen raises
                continue
            if (native and d == task_root) or not shadowed.isdisjoint(names):
                return False
        return True

    def _py_version(self) -> tuple[int, int]:
        v = self.hello_version
        if v is None:
            import sys

            return sys.version_info[0], sys.version_info[1]
        return v

    # ------------------------------------------------------------------ fork

    async def fork_snapshot(self, argv: Sequence[str], *, cwd: str, env: dict[str, str], limits=None,
                            opt_dir: str | None = None) -> ForkedSandbox:
        """A SnapStart snapshot process: an environment forked like any other, whose job socket the
        caller keeps (``sb.job_sock``: after INIT the snapshot serves forks of itself on it). Raises
        :class:`SnapshotUnavailable` where the zygote cannot serve the function: then no snapshot."""
        confined = limits is not None and limits.cfg is not None
        if not (self.enabled and list(argv) == self.argv and await self._ensure()):
            raise SnapshotUnavailable("the Python zygote is not running")
        if not self._compatible(cwd, env, opt_dir):
            raise SnapshotUnavailable("the function needs an exec'd environment (see engine/zygote.py)")
        if confined and self.spare_confine is None:
            raise SnapshotUnavailable("the zygote's spares are not confined")
        try:
            sb = await self._fork(cwd, env, limits if confined else None, keep_job=True)
        except _ZygoteGone:
            raise SnapshotUnavailable("the Python zygote exited") from None
        self.forks += 1
        return sb

    async def _fork(self, cwd: str, env: dict[str, str], limits=None, exec_argv: list[str] | None = None,
                    keep_job: bool = False) -> ForkedSandbox:
        """Hand the function to the spare (one message, straight to it); ask for the next one."""
        while True:
            spare = await self._take_spare()
            job: dict = {"cwd": cwd, "env": env}
            if exec_argv is not None:
                job["exec"] = exec_argv
            confine = None
            if limits is not None:
                if spare.group is not None:
                    limits.adopt(spare.take_group())  # it is in there already: set this function's limits
                else:
                    await limits.ensure_group_async()  # the spare joins it now (slower: an RCU grace period)
                confine = limits.job_config()
                job["confine"] = confine.to_dict()
            data = _dumps(job)
            sent = send_job(spare, data, limits)
            if sent is None:  # that spare is gone (its exit report follows): take the next one
                continue
            ctl_parent, log_r = sent
            report_sock = None
            if keep_job:
                pass  # the caller's: the report, then the snapshot's channel
            elif confine is not None:
                report_sock = spare.job  # the report comes back on it
            else:
                spare.job.close()
            ctl_parent.setblocking(False)
            sb = ForkedSandbox(self, spare.pid, spare.pidfd, ctl_parent, log_r, report_sock)
            if keep_job:
                sb.job_sock = spare.job
            self._children[spare.pid] = sb
            self._idle_since = None
            return sb

    async def _take_spare(self) -> "_Spare":
        if self._spares:
            spare = self._spares.pop(0)  # the oldest: the most likely to have finished preparing
            # The next spare is forked a little later: not while this environment runs its INIT.
            if self._replenish is None and self._loop is not None:
                self._replenish = self._loop.call_later(SPARE_DELAY_S, self._ask_spares)
            return spare
        if self._sock is None or self._loop is None:
            raise _ZygoteGone()
        fut = self._loop.create_future()
        self._spare_waiters.append(fut)
        self._ask_soon()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), FORK_TIMEOUT_S)
        except BaseException as e:
            if fut in self._spare_waiters:
                self._spare_waiters.remove(fut)
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._on_spare(fut.result())  # given to us too late: keep it for the next launch
            if isinstance(e, asyncio.TimeoutError):
                log.warning("the Python zygote (pid %s) did not fork in %.0f s; restarting it", self.pid, FORK_TIMEOUT_S)
                await self.stop()
                raise _ZygoteGone()
            raise

    def _ask_soon(self) -> None:
        """:meth:`_ask_spares` once the launches of this loop iteration have all asked: those of a
        burst share one request, which the zygote forks as a batch."""
        if self._asking_soon or self._loop is None:
            return
        if self._replenish is not None:
            self._replenish.cancel()
        self._asking_soon = True
        self._replenish = self._loop.call_soon(self._ask_spares)

    def _ask_spares(self) -> None:
        """Keep ``SPARES`` spares in reserve, plus one per waiting launch. A burst asks for many in
        one message per ``SPARE_BATCH`` (the socket buffer would drop requests sent one by one)."""
        self._asking_soon = False
        if self._replenish is not None:
            self._replenish.cancel()
            self._replenish = None
        want = len(self._spare_waiters) + SPARES - len(self._spares) - self._spares_asked
        sock = self._sock
        while want > 0 and sock is not None:
            n = min(want, SPARE_BATCH)
            tags: list[int] = []
            groups: list = []
            for _ in range(n):
                self._tag += 1
                tags.append(self._tag)
                groups.append(self.spare_group(want + len(self._pending_groups))
                              if self.spare_group is not None and self.spare_confine is not None else None)
            req: dict = {"t": "spare", "tags": tags}
            if self._spare_waiters:
                # For launches waiting now (a burst): taken at once, so a rehearsal (which moves
                # ~1 ms of copy-on-write faults from the INIT to the wait) would only add CPU.
                req["now"] = True
            if any(g is not None for g in groups):
                req["cgroups"] = [list(g.procs_files) if g is not None else None for g in groups]
            try:
                sock.send(_dumps(req))
            except OSError as e:
                for g in groups:
                    self._drop_group(g)
                if isinstance(e, BlockingIOError) and self._loop is not None and not self._write_wait:
                    # The zygote is far behind: ask again once it has read what it was sent.
                    self._write_wait = True
                    self._loop.add_writer(sock.fileno(), self._on_writable)
                return  # else EOF follows
            for tag, g in zip(tags, groups):
                if g is not None:
                    self._pending_groups[tag] = g
            self._spares_asked += n
            want -= n

    def _on_writable(self) -> None:
        if self._write_wait:
            self._write_wait = False
            if self._sock is not None and self._loop is not None:
                self._loop.remove_writer(self._sock.fileno())
        self._ask_spares()

    def _drop_group(self, group) -> None:
        if group is not None and self.release_group is not None:
            self.release_group(group)

    # ------------------------------------------------------------------ channel

    def _attach(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        """Start listening on a freshly started zygote's (or snapshot's) control socket; its
        hello resolves ``self._hello``. It forks its first spare right after that hello."""
        sock.setblocking(False)
        self._sock = sock
        self._loop = loop
        self._hello = loop.create_future()
        self._spares_asked = 1
        loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        while self._sock is not None:
            sock = self._sock
            try:
                msg, fds, _flags, _addr = socket.recv_fds(sock, 65536, 4)
            except BlockingIOError:
                return
            except OSError:
                msg, fds = b"", []
            if not msg:
                for fd in fds:
                    os.close(fd)
                self._lost()
                return
            try:
                m = _loads(msg)
            except ValueError:  # pragma: no cover
                m = {}
            t = m.get("t")
            if t == "x":
                self._on_exit_report(m)
            elif t == "s" and len(fds) == 2 and isinstance(m.get("pid"), int):
                self._spares_asked = max(0, self._spares_asked - 1)
                job = socket.socket(fileno=fds[1])
                job.setblocking(False)
                group = self._pending_groups.pop(m.get("tag"), None)
                self._on_spare(_Spare(m["pid"], fds[0], job, group, self.release_group))
                fds = []
            elif t == "hello":
                if self._hello is not None and not self._hello.done():
                    self._hello.set_result(m)
            elif t is None and "report" in m:
                self._on_report(m.get("report"))
            for fd in fds:
                os.close(fd)

    def _on_report(self, report) -> None:
        """A confinement report on the channel (a SnapStart snapshot's, see engine/snapshot.py)."""

    def _on_spare(self, spare: "_Spare") -> None:
        while self._spare_waiters:
            fut = self._spare_waiters.pop(0)
            if not fut.done():
                fut.set_result(spare)
                return
        if len(self._spares) < SPARES and self._sock is not None:
            self._spares.append(spare)
        else:
            spare.close()  # enough in reserve; this one exits (EOF on its job socket)

    def _on_exit_report(self, m: dict) -> None:
        pid = m.get("pid")
        sb = self._children.pop(pid, None)
        if sb is not None:
            if not self._children:
                self._idle_since = time.monotonic()
            sb._reported(m.get("status"), int(m.get("rss") or 0))
        else:
            for spare in self._spares:
                if spare.pid == pid:  # a spare died
                    self._spares.remove(spare)
                    spare.close()
                    self._ask_spares()
                    break

    def _lost(self) -> None:
        """The channel is closed (the zygote died, or we stop it)."""
        sock, loop = self._sock, self._loop
        if sock is None:
            return
        self._sock = None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(sock.fileno())
            if self._write_wait:
                loop.remove_writer(sock.fileno())
        self._write_wait = False
        sock.close()
        was_ready = self.state == "ready"
        self.state = "stopped"
        if was_ready and not self._stopping:
            log.warning(
                "the Python zygote (pid %s) exited; its %d environment(s) die with it, it starts again "
                "on the next cold start",
                self.pid,
                len(self._children),
            )
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(_ZygoteGone())
            self._hello.exception()  # consumed: the waiter may have timed out already
        spares, self._spares = self._spares, []
        for spare in spares:
            spare.close()
        self._spares_asked = 0
        groups, self._pending_groups = list(self._pending_groups.values()), {}
        for group in groups:
            self._drop_group(group)
        if self._replenish is not None:
            self._replenish.cancel()
            self._replenish = None
        self._asking_soon = False
        waiters, self._spare_waiters = self._spare_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(_ZygoteGone())
        children, self._children = self._children, {}
        for sb in children.values():
            if loop is not None:
                sb._zygote_lost(loop)
        self._idle_since = None
        if was_ready and not self._stopping and self.proc is not None and loop is not None and not loop.is_closed():
            loop.create_task(_wait_proc(self.proc, self._take_proc_pidfd(), STOP_TIMEOUT_S))


async def _wait_proc(proc: subprocess.Popen, pidfd: int | None, timeout: float) -> int | None:
    """Reap the zygote process (SIGKILL after ``timeout``); returns its exit code."""
    loop = asyncio.get_running_loop()
    try:
        if proc.poll() is None and pidfd is not None:
            done = loop.create_future()
            loop.add_reader(pidfd, lambda: done.done() or done.set_result(None))
            try:
                await asyncio.wait_for(done, timeout)
            except asyncio.TimeoutError:
                proc.kill()
            finally:
                loop.remove_reader(pidfd)
        elif proc.poll() is None:  # pragma: no cover - no pidfd
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if proc.poll() is None:
                proc.kill()
        return proc.wait(5.0)
    finally:
        if pidfd is not None:
            os.close(pidfd)
