"""SnapStart for Python: a per-version zygote that has run the function's INIT.

AWS takes a Firecracker snapshot of an execution environment once INIT (and the before-snapshot
runtime hooks) are done, and resumes new environments of that published version from it. nubis
does the same with a process: the *snapshot* is an environment of the version, forked from the
Python zygote and confined exactly as any of its environments (its own uid, namespaces, cgroup,
seccomp), that runs INIT with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``, runs the
``snapshot_restore_py`` before-snapshot hooks, and then serves the zygote protocol on its job socket
(``runtimes/python/zygote.py``: ``serve_snapshot``). Each new environment of the version is a fork
of it: the *restore* runs the after-restore hooks (random re-seeded first) and is timed as the
REPORT line's Restore Duration.

What a fork cannot re-do, because the snapshot runs the function's code under its uid and seccomp
filter (and whatever the forks may do, INIT code in the snapshot could do as well): a new mount
namespace (its private /tmp and /dev/shm) and a uid of its own. So the environments restored from
one snapshot share the snapshot's /tmp, /dev/shm, uid (and its RLIMIT_NPROC) and namespaces; each
gets its own cgroup (the engine moves it there from outside before it runs anything: its own
memory limit, pids limit, OOM and Max Memory Used), process group and log stream.
docs/runtimes.md ("SnapStart") says so.

:class:`SnapshotLauncher` is a :class:`~nubis.engine.zygote.ZygoteLauncher` whose "zygote" is the
snapshot: ``_start`` creates it (INIT through a regular :class:`~nubis.engine.environment.Environment`,
its log events handed to ``on_init``), spares are forked by it, exits are reported by it. Reaped
with the runtime's keep-alive like the zygote (created again on demand), closed when the version
is retired.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Callable

from .sandbox import describe_exit
from .types import FunctionSpec, Outcome
from .zygote import (FORK_TIMEOUT_S, START_TIMEOUT_S, ForkedSandbox, SnapshotUnavailable, ZygoteLauncher, _dumps,
                     _ZygoteGone, send_job)

log = logging.getLogger("nubis.engine.snapshot")

INIT_TYPE = "snap-start"


class SnapshotResult:
    """How the last creation of a snapshot went (for PublishVersion's version state)."""

    __slots__ = ("ok", "error_type", "error_message", "init_ms", "unavailable")

    def __init__(self, ok: bool, error_type: str | None = None, error_message: str | None = None,
                 init_ms: float = 0.0, unavailable: str | None = None) -> None:
        self.ok = ok
        self.error_type = error_type
        self.error_message = error_message
        self.init_ms = init_ms
        self.unavailable = unavailable  # why no snapshot could be made (environments start on demand)


class SnapshotLauncher(ZygoteLauncher):
    """Forks the restored environments of one SnapStart version (see the module docstring)."""

    def __init__(self, parent: ZygoteLauncher, spec: FunctionSpec, *,
                 new_snapshot_env: Callable[["SnapshotLauncher"], object],
                 on_init: Callable[[object, Outcome, float], None], enforcer=None) -> None:
        super().__init__(parent.python, bootstrap=parent.bootstrap, preload=(), keep_alive_s=parent.keep_alive_s,
                         enabled=True, confinement=None)
        self.parent = parent
        self.spec = spec
        self._new_snapshot_env = new_snapshot_env  # () -> an Environment whose launcher is _Spawner(self)
        self._on_init = on_init  # (environment, outcome, init_ms): the creation's log events
        self.snapshot_env = None  # the snapshot's own Environment (its process, limits, log pipe)
        self.last: SnapshotResult | None = None
        self.restores = 0
        # Spares are moved into a cgroup of their own while they wait (an RCU grace period, 4-20 ms,
        # off the cold start): pid -> the move, running in a worker thread.
        self.enforcer = enforcer if enforcer is not None and getattr(enforcer, "cgroups", False) else None
        self._moves: dict[int, asyncio.Future] = {}
        if self.enforcer is not None:
            self.release_group = self.enforcer.release_group

    # ------------------------------------------------------------------ creation

    async def _start(self, loop: asyncio.AbstractEventLoop) -> bool:
        t0 = time.perf_counter()
        env = self._new_snapshot_env(self)
        self.snapshot_env = env
        try:
            outcome, init_ms = await env.start()
        except SnapshotUnavailable as e:
            env.kill()
            self.last = SnapshotResult(False, unavailable=str(e))
            log.info("no SnapStart snapshot for %s: %s; its environments start on demand", self.spec.function_arn, e)
            return False
        except BaseException:
            env.kill()
            raise
        self._on_init(env, outcome, init_ms)
        if outcome.kind != "ready":
            env.kill()
            self.last = _failure(outcome, init_ms)
            return False
        sb = env.sandbox
        sock: socket.socket | None = getattr(sb, "job_sock", None)
        if sock is None:  # pragma: no cover - fork_snapshot always keeps it
            env.kill()
            self.last = SnapshotResult(False, unavailable="no channel to the snapshot")
            return False
        sb.job_sock = None
        self.pid = sb.pid
        self._attach(sock, loop)
        try:
            await asyncio.wait_for(asyncio.shield(self._hello), START_TIMEOUT_S)
        except (asyncio.TimeoutError, _ZygoteGone):
            self._close()
            self.last = SnapshotResult(False, "Runtime.ExitError", "the snapshot did not start serving", init_ms)
            return False
        self.state = "ready"
        self.last_start_s = time.perf_counter() - t0
        self.last = SnapshotResult(True, init_ms=init_ms)
        self._ask_spares()
        self._idle_since = time.monotonic()
        self.starts += 1
        return True

    def _on_report(self, report) -> None:
        env = self.snapshot_env
        if env is not None and env.enforcer is not None:
            env.enforcer.check_report(report)

    def snapshot_died(self) -> None:
        """The snapshot's process is gone (its Environment says so): so is the channel."""
        if self._sock is not None:
            self._lost()

    def _close(self):
        out = super()._close()
        env = self.snapshot_env
        if env is not None:
            env.kill()  # its restored environments die with it (PR_SET_PDEATHSIG)
        return out

    # ------------------------------------------------------------------ restores

    def _on_spare(self, spare) -> None:
        enf, loop = self.enforcer, self._loop
        if enf is not None and loop is not None and spare.group is None:
            group = enf.spare_group()
            if group is not None:
                spare.group, spare.release = group, enf.release_group
                fut = loop.run_in_executor(None, group.add, spare.pid)
                fut.add_done_callback(_consume)
                self._moves[spare.pid] = fut
        super()._on_spare(spare)

    async def launch(self, argv, *, cwd: str, env: dict[str, str], limits=None, opt_dir: str | None = None):
        if not await self._ensure():
            raise SnapshotUnavailable("no snapshot")
        try:
            sb = await self._fork(cwd, env, limits)
        except _ZygoteGone:
            raise SnapshotUnavailable("the snapshot exited") from None
        self.restores += 1
        return sb

    async def _fork(self, cwd: str, env: dict[str, str], limits=None, exec_argv=None,
                    keep_job: bool = False) -> ForkedSandbox:
        """A spare of the snapshot, moved into the environment's own cgroup before it may run on."""
        loop = asyncio.get_running_loop()
        while True:
            spare = await self._take_spare()
            move = self._moves.pop(spare.pid, None)
            stale = None  # a group the spare could not be moved into: dropped once it is elsewhere
            if move is not None and spare.group is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(move), FORK_TIMEOUT_S)
                    if limits is not None and limits.cfg is not None:
                        limits.adopt(spare.take_group())  # it is in there already: set this function's limits
                except (OSError, asyncio.TimeoutError):
                    stale = spare.take_group()  # moved below, into a group of its own
            if limits is not None and limits.cfg is not None and not limits.joined:
                await limits.ensure_group_async()
                group = limits.group
                if group is not None:
                    try:
                        await asyncio.wait_for(loop.run_in_executor(None, group.add, spare.pid), FORK_TIMEOUT_S)
                    except (OSError, asyncio.TimeoutError) as e:
                        if limits.enforcer is not None:
                            limits.enforcer.warn_once(f"SnapStart: cannot move a restored environment into its "
                                                      f"cgroup ({e})")
            if stale is not None:
                self._drop_group(stale)
            sent = send_job(spare, _dumps({}), limits)
            if sent is None:  # that spare is gone: take the next one
                continue
            ctl_parent, log_r = sent
            spare.job.close()
            ctl_parent.setblocking(False)
            sb = ForkedSandbox(self, spare.pid, spare.pidfd, ctl_parent, log_r, None)
            self._children[spare.pid] = sb
            self._idle_since = None
            return sb


class Spawner:
    """The launcher of the snapshot's own Environment: the Python zygote, keeping the job socket."""

    def __init__(self, parent: ZygoteLauncher) -> None:
        self.parent = parent

    async def prepare(self) -> None:
        await self.parent.prepare()

    async def launch(self, argv, *, cwd: str, env: dict[str, str], limits=None, opt_dir: str | None = None):
        env["_NUBIS_SNAPSHOT"] = "1"
        return await self.parent.fork_snapshot(argv, cwd=cwd, env=env, limits=limits, opt_dir=opt_dir)


def _consume(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


def _failure(outcome: Outcome, init_ms: float) -> SnapshotResult:
    if outcome.kind == "init_error":
        try:
            import json

            body = json.loads(outcome.body)
        except ValueError:
            body = {}
        return SnapshotResult(False, str(body.get("errorType") or "Runtime.Unknown"),
                              str(body.get("errorMessage") or ""), init_ms)
    if outcome.kind == "timeout":
        return SnapshotResult(False, "Sandbox.Timedout", "INIT timed out", init_ms)
    return SnapshotResult(False, "Runtime.OutOfMemory" if outcome.oom else "Runtime.ExitError",
                          describe_exit(outcome.exit_status), init_ms)
