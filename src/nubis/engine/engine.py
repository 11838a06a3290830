"""The engine: pools of warm execution environments, concurrency, logs, metering.

``Engine.invoke`` takes a concurrency slot (or raises :class:`Throttled`),
reuses an idle environment of the function's pool (LIFO) or starts a new one
(cold start: INIT), runs the invocation, writes the invocation's log events to
``log_sink`` and one metering record to ``meter_sink``, and returns an
:class:`InvocationResult`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from . import json_logs as J
from . import logs as L
from .api_environment import API_RUNTIMES, ApiRuntimes
from .concurrency import ConcurrencyLimiter, Lease
from .enforcer import Enforcer
from .environment import Environment
from .sandbox import describe_exit
from .snapshot import INIT_TYPE as SNAP_START, SnapshotLauncher, SnapshotResult, Spawner
from .types import EngineClosed, FunctionSpec, Invocation, InvocationResult, Outcome
from .zygote import ZygoteLauncher

try:
    import orjson as _orjson

    _loads = _orjson.loads

    def _dumps(obj) -> bytes:
        return _orjson.dumps(obj)

except ImportError:  # pragma: no cover
    import json as _json

    _loads = _json.loads

    def _dumps(obj) -> bytes:
        return _json.dumps(obj, separators=(",", ":")).encode()


log = logging.getLogger("nubis.engine")

RUNTIMES_DIR = Path(__file__).resolve().parent.parent / "runtimes"
PYTHON_RUNTIME_DIR = RUNTIMES_DIR / "python"
PYTHON_BOOTSTRAP = PYTHON_RUNTIME_DIR / "bootstrap.py"
PYTHON_RUNTIMES = frozenset(f"python3.{m}" for m in range(9, 15))
SNAPSHOT_INIT_TIMEOUT_S = 130.0  # a snapshot's INIT may run max(130 s, the function's timeout)

MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100  # 6291556, the runtime-side response cap
# Launched environments: a function's next new environment launched ahead (confined, waiting for
# its INIT; none of its code has run), when a function is created or updated and when its last idle
# environment is taken. A cold start then runs only INIT. At most PRIME_MAX at a time; one left
# unused for PRIME_TTL_S is killed, and its function is not primed again for PRIME_BACKOFF_S.
PRIME_MAX = 4
PRIME_TTL_S = 30.0
PRIME_BACKOFF_S = 120.0

LogSink = Callable[[FunctionSpec, str, "list[tuple[int, str]]"], None]  # (spec, stream, [(epoch_ms, line)])
MeterSink = Callable[[InvocationResult, FunctionSpec, str], None]


def _interpreter_version(python: str) -> tuple[int, int, int]:
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return tuple(sys.version_info[:3])  # type: ignore[return-value]
    out = subprocess.run(
        [python, "-c", "import sys; print('%d %d %d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1]), int(out[2])


class _Pool:
    __slots__ = ("key", "spec", "idle", "envs", "retired", "provisioned", "provisioning", "failed", "launched",
                 "launching", "prime_after")

    def __init__(self, spec: FunctionSpec) -> None:
        self.key = spec.key
        self.spec = spec
        self.idle: list[Environment] = []  # LIFO
        self.envs: set[Environment] = set()
        self.retired = False
        self.provisioned = 0  # environments to keep initialised ahead of invocations
        self.provisioning = 0  # of those, being initialised now
        self.failed = 0  # provisioned environments whose INIT failed (last round)
        self.launched: Environment | None = None  # launched ahead, waiting for its INIT (see PRIME_MAX)
        self.launching: asyncio.Future | None = None  # ... while it is being launched
        self.prime_after = 0.0  # loop.time() before which this pool is not primed again

    def provisioned_ready(self) -> int:
        return sum(1 for e in self.envs if e.provisioned and e.state in ("ready", "busy"))

    def take(self) -> Environment | None:
        idle = self.idle
        if self.provisioned and idle and not idle[-1].provisioned:
            # Provisioned environments serve first; on-demand ones take only the overflow (as on Lambda).
            for i in range(len(idle) - 2, -1, -1):
                if idle[i].provisioned:
                    idle.append(idle.pop(i))
                    break
        while idle:
            env = idle.pop()
            if env.state == "ready":
                sb = env.sandbox
                if sb is not None and sb.exited():
                    # Died while idle (killed from outside, or with its zygote) and the loop
                    # has not seen it yet: the invocation gets a new environment instead.
                    env.kill()
                    continue
                return env
        return None


class _Cold:
    __slots__ = ("init_ms", "events", "epoch_ms", "restore", "billed_restore_ms")

    def __init__(self, init_ms: float, events: list, epoch_ms: int, restore: bool = False,
                 billed_restore_ms: int | None = None) -> None:
        self.init_ms = init_ms  # or the Restore Duration when ``restore``
        self.events = events
        self.epoch_ms = epoch_ms
        self.restore = restore  # SnapStart: restored from the version's snapshot, not initialised
        self.billed_restore_ms = billed_restore_ms


class Engine:
    def __init__(
        self,
        *,
        log_sink: LogSink,
        meter_sink: MeterSink,
        account_concurrency: int = 1000,
        keep_alive_s: float = 600.0,
        python: str = sys.executable,
        zygote: bool | None = None,
        zygote_preload: "list[str] | tuple[str, ...] | None" = None,
        data_dir: "str | os.PathLike | None" = None,
        isolation: bool | None = None,
    ) -> None:
        """``data_dir``: the server's data dir (hidden from every environment; its cgroups are
        scoped by it). ``isolation``: confine environments and limit them with cgroups as far as
        the host allows (None: ``NUBIS_ISOLATION``, default on)."""
        self._log_sink = log_sink
        self._meter_sink = meter_sink
        self.keep_alive_s = float(keep_alive_s)
        self._python = python
        self._limiter = ConcurrencyLimiter(account_concurrency)
        self._pools: dict[str, _Pool] = {}
        self._envs: set[Environment] = set()  # every environment not yet reaped
        self._inflight = 0
        self._drain_waiter: asyncio.Future | None = None
        self._reaper: asyncio.Task | None = None
        self._closing = False
        self._announced: set[str] = set()
        self._snapshots: dict[str, SnapshotLauncher] = {}  # SnapStart versions, by spec key
        self._primed: dict[Environment, float | None] = {}  # launched ahead -> loop.time() when launched
        # NUBIS_LAUNCH_AHEAD=0 turns launching ahead off (cold starts then fork a spare on demand).
        self._prime_max = 0 if os.environ.get("NUBIS_LAUNCH_AHEAD", "1") == "0" else PRIME_MAX
        self._argv = [python, str(PYTHON_BOOTSTRAP)]
        # Limits and isolation of every environment (probes the host once per process).
        self.enforcer = Enforcer(data_dir=data_dir, enabled=isolation, runtime_dirs=(str(PYTHON_RUNTIME_DIR),))
        self._api_runtimes = ApiRuntimes()  # nodejs*, provided*: driven over the Runtime API
        # Python environments are forked from a zygote (None: NUBIS_ZYGOTE, default on; preload
        # None: NUBIS_ZYGOTE_PRELOAD, default json, boto3, botocore, urllib3).
        spare = self.enforcer.spare_config()
        self.zygote = ZygoteLauncher(
            python,
            bootstrap=PYTHON_BOOTSTRAP,
            preload=zygote_preload,
            keep_alive_s=keep_alive_s,
            enabled=zygote,
            confinement=spare.to_dict() if spare is not None else None,
            spare_group=self.enforcer.spare_group if spare is not None else None,
            release_group=self.enforcer.release_group,
        )
        self._api_runtimes.launcher = self.zygote  # confined Node/provided runtimes start from its spares
        v = _interpreter_version(python)
        self._interp = v
        self.runtime_version = f"python:{v[0]}.{v[1]}.v{v[2]}"
        h = hashlib.sha256(f"nubis\0{os.path.realpath(python)}\0{v}\0".encode())
        h.update(PYTHON_BOOTSTRAP.read_bytes())
        self.runtime_version_hash = h.hexdigest()

    # ------------------------------------------------------------------ public

    def start(self) -> None:
        """Start what the first cold start would otherwise wait for (the Python zygote: ~150 ms,
        boto3 included), in the background. Call from the running loop (the server does)."""
        if self.zygote.enabled and not self._closing:
            task = asyncio.ensure_future(self.zygote.prepare())
            task.add_done_callback(_consume_exception)
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_loop())

    async def provision(self, spec: FunctionSpec, n: int) -> dict:
        """Keep ``n`` environments of ``spec`` initialised ahead of invocations (Lambda's
        provisioned concurrency): they run their INIT now (``AWS_LAMBDA_INITIALIZATION_TYPE`` is
        ``provisioned-concurrency``), are never reaped for idleness, and are replaced when one
        dies. ``n = 0`` hands them back to on-demand keep-alive. Returns once the new ones have
        finished INIT, with :meth:`provisioned` (readiness)."""
        if self._closing:
            raise EngineClosed("the engine is shutting down")
        if spec.runtime not in PYTHON_RUNTIMES and spec.runtime not in API_RUNTIMES:
            raise ValueError(f"unsupported runtime: {spec.runtime}")
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_loop())
        pool = self._pools.get(spec.key)
        if pool is None:
            pool = self._pools[spec.key] = _Pool(spec)
        pool.provisioned = max(0, int(n))
        mine = [e for e in pool.envs if e.provisioned and e.alive]
        for env in mine[pool.provisioned:]:
            env.provisioned = False  # on-demand from now on: reaped when idle past keep-alive
        pool.failed = 0
        await self._top_up(pool)
        return self.provisioned(spec)

    def provisioned(self, spec: FunctionSpec) -> dict:
        """Readiness of ``spec``'s provisioned environments: requested, ready (initialised,
        idle or busy), initialising, failed (INIT failed in the last round)."""
        pool = self._pools.get(spec.key)
        if pool is None:
            return {"requested": 0, "ready": 0, "initializing": 0, "failed": 0}
        return {"requested": pool.provisioned, "ready": pool.provisioned_ready(), "initializing": pool.provisioning,
                "failed": pool.failed}

    def in_flight(self, scope: str) -> int:
        return self._limiter.in_flight(scope)

    def set_reserved(self, scope: str, function_arn: str, n: int | None) -> None:
        self._limiter.set_reserved(scope, function_arn, n)

    async def snapshot(self, spec: FunctionSpec) -> SnapshotResult:
        """SnapStart: make the snapshot of a published version (run INIT and the before-snapshot
        hooks once; PublishVersion waits for this). The log events go to the version's log group.
        ``unavailable`` in the result: the zygote cannot serve the function; its environments then
        start on demand."""
        if self._closing:
            raise EngineClosed("the engine is shutting down")
        if spec.runtime not in PYTHON_RUNTIMES:
            return SnapshotResult(False, unavailable=f"no snapshots for {spec.runtime}")
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_loop())
        snap = self._snapshot_of(spec)
        await snap.prepare()
        return snap.last or SnapshotResult(False, unavailable="the Python zygote is off")

    def snapshots(self) -> dict[str, dict]:
        """The live snapshots: spec key -> pid, restores so far."""
        return {k: {"pid": s.pid, "state": s.state, "restores": s.restores} for k, s in self._snapshots.items()}

    def _snapshot_of(self, spec: FunctionSpec) -> SnapshotLauncher:
        snap = self._snapshots.get(spec.key)
        if snap is None:
            snap = self._snapshots[spec.key] = SnapshotLauncher(
                self.zygote, spec, new_snapshot_env=self._new_snapshot_env, on_init=self._snapshot_logs,
                enforcer=self.enforcer)
        return snap

    def _new_snapshot_env(self, snap: SnapshotLauncher) -> Environment:
        spec = snap.spec
        self._announce(spec.runtime)

        def reaped(env: Environment) -> None:
            self._envs.discard(env)
            self.enforcer.release(env.limits)

        env = Environment(spec, argv=self._argv, runtime_dir=str(PYTHON_RUNTIME_DIR), python=self._python,
                          on_dead=lambda _env: snap.snapshot_died(), on_reaped=reaped, launcher=Spawner(self.zygote),
                          limits=self.enforcer.acquire(spec), enforcer=self.enforcer, init_type=SNAP_START)
        env.init_timeout_s = max(SNAPSHOT_INIT_TIMEOUT_S, float(spec.timeout_s))
        self._envs.add(env)
        return env

    def _snapshot_logs(self, env: Environment, outcome: Outcome, init_ms: float) -> None:
        """A snapshot's INIT in the version's log group: INIT_START, its output, INIT_REPORT."""
        spec = env.spec
        events = [(int(time.time() * 1000) - int(init_ms), self._init_start_line(env, spec)), *outcome.events]
        if outcome.kind == "ready":
            tail = L.init_report_line(init_ms, "success", phase="init")
        else:
            tail = L.init_report_line(init_ms, "timeout" if outcome.kind == "timeout" else "error",
                                      _init_error_type(outcome), phase="init")
        events.append((int(time.time() * 1000), tail))
        self._ship_logs(spec, env, events)

    def _ship_logs(self, spec: FunctionSpec, env, events: list[tuple[int, str]]) -> None:
        """Hand an environment's log events to the sink (ordered, LoggingConfig applied); a
        failing sink never fails the invocation."""
        _monotonic_timestamps(events)
        events = J.render(events, spec, env.log_stream, env.init_type)
        try:
            self._log_sink(spec, env.log_stream, events)
        except Exception:
            log.exception("log sink failed")

    async def _restorable(self, spec: FunctionSpec) -> SnapshotLauncher | None:
        """The version's snapshot, (re)created if needed, or None: start the environment on demand."""
        if not spec.snap_start or spec.runtime not in PYTHON_RUNTIMES or not self.zygote.enabled:
            return None
        snap = self._snapshot_of(spec)
        if await snap._ensure():
            return snap
        return None

    def retire(self, key_prefix: str) -> None:
        for key in [k for k in self._snapshots if k.startswith(key_prefix)]:
            snap = self._snapshots.pop(key)
            snap.closed = True
            snap._close()
        for key in [k for k in self._pools if k.startswith(key_prefix)]:
            pool = self._pools.pop(key)
            pool.retired = True
            idle, pool.idle = pool.idle, []
            for env in idle:
                env.kill()
            if pool.launched is not None:
                env, pool.launched = pool.launched, None
                self._primed.pop(env, None)
                env.kill()

    async def invoke(self, spec: FunctionSpec, inv: Invocation) -> InvocationResult:
        if self._closing:
            raise EngineClosed("the engine is shutting down")
        if spec.runtime not in PYTHON_RUNTIMES and spec.runtime not in API_RUNTIMES:
            raise ValueError(f"unsupported runtime: {spec.runtime}")
        lease = self._limiter.acquire(spec.scope, spec.function_arn, spec.reserved_concurrency)
        self._inflight += 1
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_loop())
        pool = self._pools.get(spec.key)
        if pool is None:
            pool = self._pools[spec.key] = _Pool(spec)
        env = pool.take()
        if env is None:
            # Shielded: a cancelled caller must not abort INIT half-way; the
            # task finishes (and accounts for) the invocation on its own.
            task = asyncio.ensure_future(self._invoke_cold(pool, spec, inv, lease))
            task.add_done_callback(_consume_exception)
            return await asyncio.shield(task)
        if not pool.idle and pool.launched is None and pool.launching is None:
            self._prime_pool(pool, spec)  # the next concurrent invocation will need a new environment
        start = time.time()
        try:
            fut = env.invoke(inv, spec.timeout_s)
        except BaseException:
            env.kill()
            self._release(lease)
            raise
        try:
            outcome = await fut
        except asyncio.CancelledError:
            # The caller went away; the invocation runs on (as on Lambda) and
            # is accounted for when it ends.
            if fut.done() and not fut.cancelled():
                self._finish(pool, env, spec, inv, lease, start, fut.result(), None)
            else:
                env.on_orphan = functools.partial(self._finish, pool, env, spec, inv, lease, start, cold=None)
            raise
        return self._finish(pool, env, spec, inv, lease, start, outcome, None)

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Wait up to ``grace_s`` for in-flight invocations, then kill every
        environment and reap it."""
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for pool in list(self._pools.values()):
            idle, pool.idle = pool.idle, []
            for env in idle:
                env.kill()
        for env in list(self._primed):
            self._unprime(env)
            env.kill()
        if self._inflight:
            loop = asyncio.get_running_loop()
            self._drain_waiter = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._drain_waiter), grace_s)
            except asyncio.TimeoutError:
                pass
        envs = list(self._envs)
        for env in envs:
            env.kill()
        if envs:
            await asyncio.gather(*(env.wait_exited(5.0) for env in envs))
        for env in envs:
            if not env.reaped and env.sandbox is not None:  # pragma: no cover - last resort
                env.sandbox.reap_blocking()
            env.close_transports()
        self._pools.clear()
        snaps, self._snapshots = list(self._snapshots.values()), {}
        for snap in snaps:
            await snap.close()
        await self.zygote.close()
        await self.enforcer.close()
        # Give in-flight invokers whose environments were killed a moment to finish.
        if self._inflight:
            loop = asyncio.get_running_loop()
            self._drain_waiter = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._drain_waiter), 2.0)
            except asyncio.TimeoutError:  # pragma: no cover
                pass

    # ------------------------------------------------------------------ internals

    def _release(self, lease: Lease) -> None:
        lease.release()
        self._inflight -= 1
        if self._inflight == 0 and self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _announce(self, runtime: str) -> None:
        if runtime in self._announced:
            return
        self._announced.add(runtime)
        maj, mnr, mic = self._interp
        msg = "runtime %s is served by Python %d.%d.%d (%s); INIT_START reports %s"
        args = (runtime, maj, mnr, mic, self._python, self.runtime_version)
        if runtime != f"python{maj}.{mnr}":
            log.warning(msg, *args)
        else:
            log.info(msg, *args)

    def _on_env_dead(self, env: Environment) -> None:
        self._unprime(env)
        pool: _Pool | None = env.pool  # type: ignore[assignment]
        if pool is not None:
            pool.envs.discard(env)
            try:
                pool.idle.remove(env)
            except ValueError:
                pass
            if env.provisioned and pool.provisioned and not pool.retired and not self._closing:
                # A provisioned environment died (crash, timeout, OOM): initialise a replacement.
                try:
                    asyncio.get_running_loop().call_soon(self._replace_provisioned, pool)
                except RuntimeError:  # pragma: no cover - no loop
                    pass
            elif (not pool.envs and not pool.provisioned and not pool.retired and pool.launched is None
                  and pool.launching is None and self._pools.get(pool.key) is pool):
                del self._pools[pool.key]

    def _replace_provisioned(self, pool: _Pool) -> None:
        if pool.retired or self._closing or self._pools.get(pool.key) is not pool:
            return
        task = asyncio.ensure_future(self._top_up(pool))
        task.add_done_callback(_consume_exception)

    async def _top_up(self, pool: _Pool) -> None:
        need = pool.provisioned - pool.provisioning - sum(1 for e in pool.envs if e.provisioned and e.alive)
        if need <= 0:
            return
        pool.provisioning += need
        try:
            await asyncio.gather(*(self._provision_one(pool) for _ in range(need)))
        finally:
            pool.provisioning -= need

    async def _provision_one(self, pool: _Pool) -> None:
        spec = pool.spec
        env = self._new_environment(spec, "", init_type="provisioned-concurrency")
        env.pool = pool
        pool.envs.add(env)
        self._envs.add(env)
        epoch_ms = int(time.time() * 1000)
        try:
            outcome, init_ms = await env.start()
        except BaseException:
            self._abandon(env)
            pool.failed += 1
            raise
        events = [(epoch_ms, self._init_start_line(env, spec)), *outcome.events]
        if outcome.kind != "ready":
            env.kill()
            pool.failed += 1
            status = "timeout" if outcome.kind == "timeout" else "error"
            tail = L.init_report_line(init_ms, status, _init_error_type(outcome), phase="init")
            events.append((int(time.time() * 1000), tail))
        else:
            env.provisioned = True
            if pool.retired or self._closing:
                env.kill()
            else:
                env.state = "ready"
                env.last_used = asyncio.get_running_loop().time()
                pool.idle.insert(0, env)  # LIFO: warm on-demand environments are reused first
        self._ship_logs(spec, env, events)

    def _new_environment(self, spec: FunctionSpec, first_request_id: str, init_type: str = "on-demand",
                         snapshot: SnapshotLauncher | None = None):
        if spec.runtime in API_RUNTIMES:
            return self._api_runtimes.environment(
                spec,
                first_request_id=first_request_id,
                on_dead=self._on_env_dead,
                on_reaped=self._on_env_reaped,
                enforcer=self.enforcer,
                init_type=init_type,
            )
        self._announce(spec.runtime)
        return Environment(
            spec,
            argv=self._argv,
            runtime_dir=str(PYTHON_RUNTIME_DIR),
            python=self._python,
            on_dead=self._on_env_dead,
            on_reaped=self._on_env_reaped,
            launcher=snapshot if snapshot is not None else self.zygote,
            limits=self.enforcer.acquire(spec),
            enforcer=self.enforcer,
            init_type=SNAP_START if snapshot is not None else init_type,
        )

    # ------------------------------------------------------------------ launched ahead

    def prime(self, spec: FunctionSpec) -> None:
        """A function was created or its code or configuration changed: its first invocation will
        need a new environment, so launch one now (see PRIME_MAX). Best effort, never raises."""
        if self._closing or spec.runtime not in PYTHON_RUNTIMES or spec.snap_start:
            return
        pool = self._pools.get(spec.key)
        if pool is None:
            pool = self._pools[spec.key] = _Pool(spec)
        if pool.idle or pool.envs or pool.launched is not None or pool.launching is not None:
            return
        self._prime_pool(pool, spec)
        if pool.launching is None and not pool.envs and self._pools.get(spec.key) is pool:
            del self._pools[spec.key]  # not launched (PRIME_MAX reached, ...): no empty pool left behind

    def _prime_pool(self, pool: _Pool, spec: FunctionSpec) -> None:
        if (self._closing or pool.retired or pool.provisioned or len(self._primed) >= self._prime_max
                or spec.runtime not in PYTHON_RUNTIMES or spec.snap_start or spec.reserved_concurrency == 0):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        now = loop.time()
        if now < pool.prime_after:
            return
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_loop())
        env = self._new_environment(spec, "")
        env.pool = pool
        self._envs.add(env)
        self._primed[env] = None  # the time it was launched, once it is
        pool.launching = asyncio.ensure_future(self._launch_ahead(pool, env))
        pool.launching.add_done_callback(_consume_exception)

    async def _launch_ahead(self, pool: _Pool, env: Environment) -> None:
        try:
            await env.launch()
        except BaseException:
            pool.launching = None  # before _abandon: an empty pool is dropped only when nothing is launching
            self._unprime(env)
            self._abandon(env)
            raise
        finally:
            pool.launching = None
        if env.launched() and not pool.retired and not self._closing and env in self._primed:
            pool.launched = env
            self._primed[env] = asyncio.get_running_loop().time()
        else:
            self._unprime(env)
            env.kill()

    def _unprime(self, env: Environment) -> None:
        self._primed.pop(env, None)
        pool: _Pool | None = env.pool  # type: ignore[assignment]
        if pool is not None and pool.launched is env:
            pool.launched = None

    async def _claim_launched(self, pool: _Pool, spec: FunctionSpec) -> Environment | None:
        """The pool's environment launched ahead, if it is for this very spec and still waiting."""
        if pool.launched is None and pool.launching is not None:
            try:
                await asyncio.shield(pool.launching)
            except Exception:
                return None
        env = pool.launched
        if env is None or self._closing:
            return None
        self._unprime(env)
        if env.spec != spec or not env.launched():
            env.kill()
            return None
        pool.envs.add(env)
        return env

    def _abandon(self, env) -> None:
        """Kill an environment whose start failed; one that never got a process will not be
        reaped, so forget it and free its limits here."""
        env.kill()
        if env.sandbox is None:
            self._envs.discard(env)
            self._on_env_dead(env)
            self.enforcer.release(env.limits)

    def _on_env_reaped(self, env: Environment) -> None:
        self._envs.discard(env)
        self.enforcer.release(env.limits)

    async def _invoke_cold(self, pool: _Pool, spec: FunctionSpec, inv: Invocation, lease: Lease) -> InvocationResult:
        env = None
        try:
            snap = await self._restorable(spec) if spec.snap_start else None
            env = await self._claim_launched(pool, spec) if snap is None else None
            if env is not None:
                init_epoch_ms = int(time.time() * 1000)
                init_outcome, init_ms = await env.run_init()
            else:
                env = self._new_environment(spec, inv.request_id, snapshot=snap)
                env.pool = pool
                pool.envs.add(env)
                self._envs.add(env)
                init_epoch_ms = int(time.time() * 1000)
                init_outcome, init_ms = await env.start()
        except BaseException:
            if env is not None:
                self._abandon(env)
            self._release(lease)
            raise
        cold = _Cold(init_ms, init_outcome.events, init_epoch_ms)
        if snap is not None:
            cold.restore = True
            cold.billed_restore_ms = _billed_restore(init_outcome)
        if init_outcome.kind != "ready":
            return self._finish_init_failure(env, spec, inv, lease, init_outcome, cold)
        start = time.time()
        try:
            outcome = await env.invoke(inv, spec.timeout_s)
        except BaseException:
            env.kill()
            self._release(lease)
            raise
        return self._finish(pool, env, spec, inv, lease, start, outcome, cold)

    def _finish(
        self,
        pool: _Pool,
        env: Environment,
        spec: FunctionSpec,
        inv: Invocation,
        lease: Lease,
        start: float,
        outcome: Outcome,
        cold: _Cold | None = None,
    ) -> InvocationResult:
        rid = inv.request_id
        kind = outcome.kind
        status = report_error = None
        duration_ms = outcome.duration_ms
        if kind == "result":
            payload = outcome.body
            function_error = error_type = None
            metered = "success"
            if len(payload) > MAX_RESPONSE_BYTES:
                payload = _dumps(
                    {
                        "errorMessage": "Response payload size exceeded maximum allowed payload size "
                        f"({MAX_RESPONSE_BYTES} bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }
                )
                function_error, error_type, metered = "Unhandled", "Function.ResponseSizeTooLarge", "error"
        elif kind == "error":
            payload = outcome.body
            function_error = "Unhandled"
            error_type = _error_type_of(payload)
            metered = "error"
        else:  # "timeout" | "exit"
            error_type, payload = _platform_error(rid, spec, outcome)
            function_error = "Unhandled"
            if kind == "timeout":
                status, metered = "timeout", "timeout"
                duration_ms = float(spec.timeout_s) * 1000.0
            else:
                status, report_error, metered = "error", error_type, "crash"

        if kind == "result" or kind == "error":
            max_kb = outcome.max_rss_kb or env.peak_rss_kb()  # reported by the runtime, else /proc
        else:
            max_kb = outcome.max_rss_kb or env.max_rss_kb
        max_mb = spec.memory_mb if outcome.oom else L.kb_to_mb(max_kb)
        init_ms = cold.init_ms if cold is not None and not cold.restore else None
        restore_ms = cold.init_ms if cold is not None and cold.restore else None
        billed = L.billed_ms(duration_ms, init_ms)
        end_ms = int(time.time() * 1000)
        invocation = [(int(start * 1000), L.start_line(rid, spec.version)), *outcome.events,
                      (end_ms, L.end_line(rid, status, report_error)),
                      (end_ms, L.report_line(rid, duration_ms, billed, spec.memory_mb, max_mb, init_ms, status,
                                             report_error, restore_ms, cold.billed_restore_ms if cold else None))]

        # Environment back to its pool (or gone).
        if kind == "result" or kind == "error":
            if env.state == "busy":
                env.finish_invocation()
                if pool.retired or self._closing:
                    env.kill()
                else:
                    pool.idle.append(env)
        else:
            env.kill()
        return self._conclude(env, spec, rid, lease, cold, [], invocation, payload, function_error, error_type,
                              start, duration_ms, billed, init_ms, max_mb, metered)

    def _finish_init_failure(
        self, env: Environment, spec: FunctionSpec, inv: Invocation, lease: Lease, init: Outcome, cold: _Cold
    ) -> InvocationResult:
        env.kill()
        rid = inv.request_id
        init_ms = cold.init_ms
        if init.kind == "init_error":
            payload = init.body
            error_type = _error_type_of(payload)
            init_status, metered, status = "error", "error", "error"
        else:  # "timeout" | "exit"
            error_type, payload = _platform_error(rid, spec, init)
            if init.kind == "timeout":
                init_status, metered, status = "timeout", "timeout", "timeout"
            else:
                init_status, metered, status = "error", "crash", "error"
        report_error = error_type if status == "error" else None
        max_mb = spec.memory_mb if init.oom else L.kb_to_mb(init.max_rss_kb or env.max_rss_kb)
        duration_ms = init_ms
        billed = L.billed_ms(duration_ms)
        start = time.time()
        start_ms = int(start * 1000)
        invocation = [
            (start_ms, L.start_line(rid, spec.version)),
            (start_ms, L.end_line(rid, status, report_error)),
            (start_ms, L.report_line(rid, duration_ms, billed, spec.memory_mb, max_mb, None, status, report_error)),
        ]
        init_report = [(start_ms, L.init_report_line(init_ms, init_status, report_error))]
        if cold.restore:
            # SnapStart: the restore (the after-restore hooks) failed; no Init Duration to report.
            init_report = [(start_ms, L.restore_report_line(init_ms))]
            init_ms = None
        return self._conclude(env, spec, rid, lease, cold, init_report, invocation, payload, "Unhandled", error_type,
                              start, duration_ms, billed, init_ms, max_mb, metered)

    def _conclude(
        self,
        env: Environment,
        spec: FunctionSpec,
        rid: str,
        lease: Lease,
        cold: _Cold | None,
        init_tail: list[tuple[int, str]],
        invocation: list[tuple[int, str]],
        payload: bytes,
        function_error: str | None,
        error_type: str | None,
        start: float,
        duration_ms: float,
        billed: int,
        init_ms: float | None,
        max_mb: int,
        metered: str,
    ) -> InvocationResult:
        """The log events (INIT_START and the INIT's output on a cold start, ``init_tail``, then
        the invocation's START..REPORT) and the result; its tail is everything after INIT_START.
        Releases the concurrency slot and hands the events and the metering record on."""
        events: list[tuple[int, str]] = []
        restore_ms = billed_restore = None
        if cold is not None:
            if cold.restore:
                events.append((cold.epoch_ms, self._restore_start_line(spec)))
                events.extend(cold.events)
                if not init_tail:
                    restore_ms, billed_restore = cold.init_ms, cold.billed_restore_ms
                    init_tail = [(cold.epoch_ms + int(cold.init_ms), L.restore_report_line(cold.init_ms))]
            else:
                events.append((cold.epoch_ms, self._init_start_line(env, spec)))
                events.extend(cold.events)
        first = 1 if init_tail else len(events)
        events.extend(init_tail)
        events.extend(invocation)
        _monotonic_timestamps(events)
        tail = J.render(events[first:], spec, env.log_stream, env.init_type)  # LoggingConfig applied
        events = J.render(events[:first], spec, env.log_stream, env.init_type) + tail
        result = InvocationResult(
            request_id=rid,
            payload=payload,
            function_error=function_error,
            error_type=error_type,
            log_tail="".join([m for _, m in tail]),
            log_stream=env.log_stream,
            executed_version=spec.version,
            start_time=start,
            duration_ms=duration_ms,
            billed_ms=billed,
            init_ms=init_ms,
            max_memory_mb=max_mb,
            memory_mb=spec.memory_mb,
            cold=cold is not None,
            restore_ms=restore_ms,
            billed_restore_ms=billed_restore,
        )
        self._release(lease)
        self._emit(spec, env.log_stream, events, result, metered)
        return result

    def _init_start_line(self, env: Environment, spec: FunctionSpec) -> str:
        # Runtime-API environments (node, provided) know their own runtime version.
        version = getattr(env, "runtime_version", "") or self.runtime_version
        digest = getattr(env, "runtime_version_hash", "") or self.runtime_version_hash
        return L.init_start_line(version, spec.region, digest)

    def _restore_start_line(self, spec: FunctionSpec) -> str:
        return L.restore_start_line(self.runtime_version, spec.region, self.runtime_version_hash)

    def _emit(self, spec: FunctionSpec, stream: str, events, result: InvocationResult, outcome: str) -> None:
        try:
            self._log_sink(spec, stream, events)
        except Exception:
            log.exception("log sink failed")
        try:
            self._meter_sink(result, spec, outcome)
        except Exception:
            log.exception("meter sink failed")

    async def _reap_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = max(0.02, min(self.keep_alive_s / 4.0, 30.0))
        while True:
            await asyncio.sleep(interval)
            self.zygote.reap_idle()
            for snap in list(self._snapshots.values()):
                snap.reap_idle()  # created again by the next cold start of its version
            self.enforcer.touch_stock()
            now = loop.time()
            for env, since in list(self._primed.items()):
                if since is not None and now - since >= min(PRIME_TTL_S, self.keep_alive_s) and env.state == "init":
                    pool = env.pool
                    if pool is not None:
                        pool.prime_after = now + PRIME_BACKOFF_S  # launched for nothing: not again soon
                    self._unprime(env)
                    env.kill()
            deadline = loop.time() - self.keep_alive_s
            for pool in list(self._pools.values()):
                if not pool.idle:
                    continue
                keep = []
                for env in pool.idle:
                    if env.state == "ready" and (env.provisioned or env.last_used > deadline):
                        keep.append(env)
                    else:
                        env.kill()
                pool.idle = keep


def _billed_restore(outcome: Outcome) -> int | None:
    """Billed Restore Duration: the runtime's own time in the restore (its READY frame says, in ms)."""
    if outcome.kind != "ready":
        return None
    try:
        return max(1, math.ceil(float(outcome.body.decode())))
    except (ValueError, UnicodeDecodeError):
        return max(1, math.ceil(outcome.duration_ms))


def _consume_exception(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


def _platform_error(rid: str, spec: FunctionSpec, outcome: Outcome) -> tuple[str, bytes]:
    """(errorType, payload) of a phase the runtime did not answer: timed out or exited."""
    if outcome.kind == "timeout":
        error_type = "Sandbox.Timedout"
        message = f"RequestId: {rid} Error: Task timed out after {float(spec.timeout_s):.2f} seconds"
        return error_type, _dumps({"errorType": error_type, "errorMessage": message})
    error_type = "Runtime.OutOfMemory" if outcome.oom else "Runtime.ExitError"
    return error_type, _dumps({"errorType": error_type,
                               "errorMessage": f"RequestId: {rid} Error: {describe_exit(outcome.exit_status)}"})


def _init_error_type(outcome: Outcome) -> str | None:
    """The INIT_REPORT ``Error Type`` of an INIT that did not become ready."""
    if outcome.kind == "timeout":
        return "Sandbox.Timedout"
    if outcome.kind == "init_error":
        return _error_type_of(outcome.body)
    return "Runtime.OutOfMemory" if outcome.oom else "Runtime.ExitError"


def _error_type_of(payload: bytes) -> str | None:
    try:
        obj = _loads(payload)
    except Exception:
        return None
    if isinstance(obj, dict):
        t = obj.get("errorType")
        return t if isinstance(t, str) and t else None
    return None


def _monotonic_timestamps(events: list[tuple[int, str]]) -> None:
    prev = 0
    for i, (ts, msg) in enumerate(events):
        if ts < prev:
            events[i] = (prev, msg)
        else:
            prev = ts
