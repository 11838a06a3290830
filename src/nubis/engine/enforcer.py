"""What the engine applies to every execution environment: limits (cgroups) and isolation (confinement).

One :class:`Enforcer` per engine. At construction it probes the host once
(:func:`nubis.engine.isolation.probe`, cached per process), decides what it will apply, declares
that (``isolation.set_enforced``: ``GET /_nubis/health`` and the server's start-up lines show it)
and logs one warning for whatever the host refuses. Per environment, :meth:`Enforcer.acquire`
hands out an :class:`EnvLimits`:

* a uid of its own from a :class:`~nubis.engine.confinement.UidPool` (round-robin);
* a cgroup (:class:`~nubis.engine.cgroups.EnvCgroup`): memory limit = MemorySize, ``pids.max``
  1024, CPU shares proportional to memory (1769 MB = one vCPU);
* a :class:`~nubis.engine.confinement.ConfinementConfig`: mount/ipc/uts/cgroup namespaces, a
  private /tmp of EphemeralStorage MB, the code read-only, the server's data dir hidden, the
  function's layers at /opt, the uid change, rlimits (1024 files, 1024 processes), seccomp.

Launchers apply the configuration in the new process: the Python zygote splits it (the
function-independent part in its spare, see :meth:`Enforcer.spare_config`, the rest once the
function is known), exec launchers run :func:`~nubis.engine.confinement.exec_argv`'s wrapper.
:meth:`Enforcer.release` gives the uid back and removes the cgroup (killing whatever is left in
it, including processes that left the environment's process group) once the environment is gone.

Where no memory cgroup can be had (or ``NUBIS_CGROUPS=0``), MemorySize is kept by the fallback of
:mod:`nubis.engine.memguard` (``RLIMIT_AS`` backstop + an RSS watchdog); ``enforced`` then lists
``memory-watchdog``. Each environment watches its memory through :meth:`Enforcer.memory_guard`.

``NUBIS_ISOLATION=0`` (or ``Engine(isolation=False)``) turns all of it off: environments are then
plain processes of the server's user, and the warning says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Iterable

from . import cgroups as cg
from . import confinement as cf
from . import isolation
from .memguard import MemoryGuard, RssWatchdog

log = logging.getLogger("nubis.engine")

ENABLE_ENV = "NUBIS_ISOLATION"  # "0" / "off" / "false": no confinement, no cgroups
CGROUPS_ENV = "NUBIS_CGROUPS"  # "0": no cgroups even where writable (MemorySize by RLIMIT_AS + RSS watchdog)
SHARED_ENV = "NUBIS_SHARED_DIRS"  # ":"-separated host dirs every environment sees read-write (opt-in)
PID_NS_ENV = "NUBIS_PID_NAMESPACE"  # "1": a pid namespace per exec'd environment (a second fork)
OPT = "/opt"  # where Lambda mounts a function's layers
HIDE_EXTRA = ("/var/tmp",)
STOCK = 2  # cgroups kept made ahead for the zygote's spares
STOCK_MAX = 64  # ... and at most this many during a burst
_scope_seq = [0]


def _off(name: str) -> bool:
    """Is switch ``name`` turned off ("0" / "off" / "false" / "no"; unset: on)?"""
    return os.environ.get(name, "1").strip().lower() in ("0", "off", "false", "no")


def enabled_from_env() -> bool:
    return not _off(ENABLE_ENV)


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "on", "true", "yes")


class EnvLimits:
    """What one environment gets: its uid, its cgroup, its confinement (``cfg``), and where its
    layers appear inside it (``opt``: ``/opt``, the real merged dir, or None without layers).

    The cgroup comes later: a zygote's spare joined one while it waited (:meth:`adopt`; joining
    a cgroup costs an RCU grace period, 4-20 ms, which must not be on the cold start), an exec'd
    environment gets a new one (:meth:`ensure_group`) that its confinement wrapper joins."""

    __slots__ = ("env_id", "uid", "group", "cfg", "opt", "opt_dir", "released", "memory_mb", "enforcer", "joined")

    def __init__(self, env_id: str, uid: int | None, group: cg.EnvCgroup | None, cfg: cf.ConfinementConfig | None,
                 opt: str | None, opt_dir: str | None, memory_mb: int, enforcer: "Enforcer | None" = None) -> None:
        self.env_id = env_id
        self.uid = uid
        self.group = group
        self.cfg = cfg
        self.opt = opt
        self.opt_dir = opt_dir
        self.released = False
        self.memory_mb = memory_mb
        self.enforcer = enforcer
        self.joined = False  # the process is in ``group`` already (a spare's)

    def adopt(self, group: cg.EnvCgroup | None) -> None:
        """The process already sits in ``group`` (a spare's): give it this function's limits."""
        if group is None:
            return
        if self.group is not None and self.enforcer is not None:  # pragma: no cover - adopt once
            self.enforcer.release_group(self.group)
        self.group, self.joined = group, True
        if not group.set_memory(self.memory_mb) and self.enforcer is not None:
            self.enforcer.warn_once("cgroup: cannot set the memory limit of a spare's group: "
                                    + "; ".join(group.warnings[-2:]))

    def unadopt(self) -> None:
        """The process that sat in the adopted group is gone before it got its job."""
        if self.joined:
            group, self.group, self.joined = self.group, None, False
            if self.enforcer is not None:
                self.enforcer.release_group(group)

    def ensure_group(self) -> None:
        """A cgroup of its own for an environment that is not forked from a spare."""
        if self.group is None and self.enforcer is not None and self.cfg is not None:
            self.group = self.enforcer.new_group(self.memory_mb)

    async def ensure_group_async(self) -> None:
        """:meth:`ensure_group`, with the cgroup made off the event loop."""
        if self.group is None and self.enforcer is not None and self.cfg is not None:
            group = await self.enforcer.new_group_async(self.memory_mb)
            if self.group is None and not self.released:
                self.group = group
            else:  # pragma: no cover - released meanwhile
                self.enforcer.release_group(group)

    def job_config(self) -> cf.ConfinementConfig | None:
        """The confinement to apply in the new process (joining the cgroup unless already in it)."""
        cfg = self.cfg
        if cfg is None:
            return None
        if self.group is not None and not self.joined:
            return cfg.replace(cgroup_procs=self.group.procs_files)
        return cfg

    def oom_killed(self, status: int | None) -> bool:
        """Did the kernel's OOM killer end this environment's runtime (``status``: its wait status)?"""
        g = self.group
        if g is None or status is None or not os.WIFSIGNALED(status) or os.WTERMSIG(status) != 9:
            return False
        try:
            return g.oom_killed(status)
        except OSError:  # pragma: no cover - the group is gone
            return False


class Enforcer:
    def __init__(self, *, data_dir: str | os.PathLike | None = None, enabled: bool | None = None,
                 runtime_dirs: Iterable[str] = ()) -> None:
        self.enabled = enabled_from_env() if enabled is None else bool(enabled)
        self.data_dir = os.path.realpath(data_dir) if data_dir is not None else None
        self.runtime_dirs = tuple(str(d) for d in runtime_dirs)
        self.pid_namespace = _truthy(PID_NS_ENV)
        self.shared = tuple(os.path.realpath(p) for p in os.environ.get(SHARED_ENV, "").split(":") if p)
        self.pool: cf.UidPool | None = None
        self.cgroups = False
        self.confine = False
        self.mounts = False
        self.opt_usable = False
        self.scope = ""
        self.features: list[str] = []
        self.watchdog: RssWatchdog | None = None  # MemorySize without cgroups
        self._warned: set[str] = set()
        self._pending: set[asyncio.Future] = set()
        self._runtime_paths: tuple[str, ...] = ()
        self._bases: dict[tuple[str, ...], cf.ConfinementConfig] = {}
        self._stock: list[cg.EnvCgroup] = []  # groups made ahead for spares
        self._restocking = False
        self._closed = False
        self._real: dict[str, str] = {}  # code dir -> its realpath (code dirs are immutable, per digest)
        if not sys.platform.startswith("linux"):
            self.enabled = False
        if self.shared and self.enabled:
            log.warning("environments share %s read-write with the host (%s)", ", ".join(self.shared), SHARED_ENV)
        if not self.enabled:
            isolation.set_enforced([], reason=f"isolation is turned off ({ENABLE_ENV}=0)"
                                   if sys.platform.startswith("linux") else f"not Linux ({sys.platform})")
            return
        available = isolation.probe()["available"]
        self.confine = True  # confine() applies what the host allows and reports the rest
        self.mounts = bool(available.get("mount_namespaces"))
        if available.get("setuid"):
            self.pool = cf.UidPool()
            for w in self.pool.warnings:
                log.warning("environment uids: %s", w)
        if available.get("cgroups") and _off(CGROUPS_ENV):
            log.warning("cgroups turned off (%s=0): MemorySize is kept by RLIMIT_AS and an RSS watchdog", CGROUPS_ENV)
        elif available.get("cgroups"):
            if self.data_dir is not None:
                self.scope = cg.scope_for(self.data_dir)
            else:
                _scope_seq[0] += 1
                self.scope = f"pid-{os.getpid()}-{_scope_seq[0]}"
            try:
                cg.cleanup_stale(scope=self.scope)  # what a crashed predecessor left
                cg.cleanup_dead()
                cg.cleanup_abandoned()  # empty groups of servers killed and never restarted
                self.cgroups = True
            except OSError as e:  # pragma: no cover
                log.warning("cgroups unavailable (%s): MemorySize is not enforced", e)
        self._runtime_paths = cf.runtime_paths()
        # /opt is where the layers go, unless the runtime itself lives there.
        self.opt_usable = self.mounts and os.path.isdir(OPT) and not any(
            cf._under(p, OPT) for p in self._runtime_paths + self.runtime_dirs)
        can = set(isolation.enforceable())
        if not self.cgroups:
            can -= {"cgroup-memory", "cgroup-pids", "cgroup-cpu"}
        if self.pool is None:
            can.discard("uid")
        self.features = [f for f in isolation.FEATURES if f in can]
        if not self.cgroups:
            self.watchdog = RssWatchdog()
            self.features.append("memory-watchdog")
        isolation.set_enforced(self.features)
        w = isolation.probe()["warning"]
        if w:
            log.warning("isolation: %s", w)

    # ------------------------------------------------------------------ per environment

    def hide(self) -> tuple[str, ...]:
        out = [self.data_dir] if self.data_dir else []
        out += [p for p in HIDE_EXTRA if os.path.isdir(p)]
        if self.opt_usable:
            out.append(OPT)  # Lambda's /opt is empty without layers
        return tuple(out)

    def spare_config(self) -> cf.ConfinementConfig | None:
        """The function-independent part, for a zygote's spare (``confinement.prepare(split=True)``)."""
        if not self.enabled or not self.confine:
            return None
        return cf.ConfinementConfig(
            readonly_paths=cf._outermost(self.runtime_dirs + self._runtime_paths),
            hide=self.hide(),
            shared=self.shared,
            parent_death_signal=cf.SIGKILL,
        )

    def opt_path(self, opt_dir: str | None) -> str | None:
        """Where a function's merged layers appear to it."""
        if not opt_dir:
            return None
        if self.enabled and self.confine and self.opt_usable:
            return OPT
        return opt_dir

    def new_group(self, memory_mb: int = 128) -> cg.EnvCgroup | None:
        """A new environment cgroup (None where cgroups are unavailable; warned once)."""
        if not self.cgroups:
            return None
        try:
            group = cg.EnvCgroup.create("e" + secrets.token_hex(6), memory_mb, scope=self.scope)
        except (OSError, ValueError) as e:
            self.warn_once(f"cannot create an environment cgroup ({e}); MemorySize and the process limit "
                           "are not enforced for it")
            return None
        for w in group.warnings:
            self.warn_once(f"cgroup: {w}")
        return group

    def spare_group(self, demand: int = 1) -> cg.EnvCgroup | None:
        """A group for a zygote's spare to join while it waits, from a stock made in a worker
        thread (creating one costs 0.5-1.5 ms of syscalls: not on the event loop), or None when
        the stock is empty (the spare then gets its group with its function). ``demand``: how
        many spares are being asked for right now (a burst), so the stock grows to match."""
        if not self.cgroups:
            return None
        group = self._from_stock()
        self._restock(demand)
        return group

    def _from_stock(self) -> cg.EnvCgroup | None:
        while self._stock:
            group = self._stock.pop()
            if all(os.path.isdir(d) for d in group.dirs.values()):
                return group
            self.release_group(group)  # removed under us (another server's cleanup_abandoned)
        return None

    def touch_stock(self) -> None:
        """Keep the groups made ahead young: another server's ``cleanup_abandoned`` removes
        empty groups that look old. (Called by the engine's reaper.)"""
        for group in list(self._stock):
            for d in group.dirs.values():
                try:
                    os.utime(d)
                except OSError:
                    pass

    async def new_group_async(self, memory_mb: int = 128) -> cg.EnvCgroup | None:
        """:meth:`new_group` in a worker thread."""
        if not self.cgroups:
            return None
        group = self._from_stock()
        if group is not None:  # made ahead: only its limits change
            self._restock()
            if not group.set_memory(memory_mb):
                self.warn_once("cgroup: cannot set a memory limit: " + "; ".join(group.warnings[-2:]))
            return group
        return await asyncio.get_running_loop().run_in_executor(None, self.new_group, memory_mb)

    def _restock(self, demand: int = 1) -> None:
        want = min(STOCK_MAX, max(STOCK, demand))
        if self._restocking or len(self._stock) >= want or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._restocking = True

        def make() -> list:
            return [g for g in (self.new_group() for _ in range(want - len(self._stock))) if g is not None]

        def done(fut: asyncio.Future) -> None:
            self._restocking = False
            self._pending.discard(fut)
            groups = fut.result() if not fut.cancelled() and fut.exception() is None else []
            if self._closed:
                for g in groups:
                    self.release_group(g)
            else:
                self._stock.extend(groups)

        fut = loop.run_in_executor(None, make)
        self._pending.add(fut)
        fut.add_done_callback(done)

    def release_group(self, group: cg.EnvCgroup | None) -> None:
        """Remove a group nobody will use (a spare's that was let go)."""
        if group is not None:
            self._schedule(group, None)

    def acquire(self, spec, runtime_dirs: Iterable[str] = ()) -> EnvLimits:
        """uid and confinement for a new environment of ``spec`` (a FunctionSpec); its cgroup
        comes with the process (:meth:`EnvLimits.adopt` / :meth:`EnvLimits.ensure_group`)."""
        env_id = "e" + secrets.token_hex(6)
        opt_dir = getattr(spec, "opt_dir", None) or None
        if not self.enabled:
            return EnvLimits(env_id, None, None, None, opt_dir, opt_dir, spec.memory_mb, self)
        uid = self.pool.acquire() if self.pool is not None else None
        group = None
        opt = self.opt_path(opt_dir)
        binds: list[tuple[str, str]] = []
        if opt_dir:
            binds.append((opt_dir, opt if opt == OPT else opt_dir))
        code_dir = self._realpath(spec.code_dir)
        cfg = self._base(tuple(runtime_dirs)).replace(
            uid=uid,
            tmp_mb=int(getattr(spec, "ephemeral_mb", 512) or 512),
            code_dir=code_dir,
            binds=binds,
        )
        return EnvLimits(env_id, uid, group, cfg, opt, opt_dir, spec.memory_mb, self)

    def _base(self, runtime_dirs: tuple[str, ...]) -> cf.ConfinementConfig:
        """Everything of an environment's configuration that does not depend on the function."""
        hit = self._bases.get(runtime_dirs)
        if hit is None:
            hit = self._bases[runtime_dirs] = cf.ConfinementConfig(
                pid_namespace=self.pid_namespace,
                readonly_paths=cf._outermost(runtime_dirs + self.runtime_dirs + self._runtime_paths),
                hide=self.hide(),
                shared=self.shared,
                parent_death_signal=cf.SIGKILL,
            )
        return hit

    def _realpath(self, path: str) -> str:
        hit = self._real.get(path)
        if hit is None:
            if len(self._real) > 4096:
                self._real.clear()
            hit = self._real[path] = os.path.realpath(path)
        return hit

    def release(self, lim: EnvLimits | None) -> None:
        """The environment is gone: remove its cgroup (killing stragglers) and free its uid."""
        if lim is None or lim.released:
            return
        lim.released = True
        group, uid = lim.group, lim.uid
        if group is None:
            if uid is not None and self.pool is not None:
                self.pool.release(uid)
            return
        self._schedule(group, uid)

    def _schedule(self, group: cg.EnvCgroup, uid: int | None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self._destroy(group, uid)
            return
        fut = loop.run_in_executor(None, self._destroy, group, uid)
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)

    def _destroy(self, group: cg.EnvCgroup, uid: int | None) -> None:
        try:
            if not group.destroy():
                self.warn_once("cgroup cleanup: " + "; ".join(group.warnings))
        except Exception as e:  # pragma: no cover
            self.warn_once(f"cgroup cleanup failed: {e}")
        finally:
            if uid is not None and self.pool is not None:
                self.pool.release(uid)

    def memory_guard(self, lim: EnvLimits | None, pid: int, memory_mb: int, on_exceeded) -> MemoryGuard:
        """What watches an environment's memory: its cgroup's OOM notification, else (isolation on,
        no cgroup) the RSS watchdog; with isolation off it only measures Max Memory Used."""
        group = lim.group if lim is not None else None
        watchdog = self.watchdog if self.enabled and group is None else None
        if watchdog is None and self.enabled and group is None and lim is not None and lim.cfg is not None:
            watchdog = self._fallback_watchdog()  # cgroups on, but this environment got none
        return MemoryGuard(memory_mb, pid, on_exceeded, group=group, watchdog=watchdog)

    def _fallback_watchdog(self) -> RssWatchdog:
        if self.watchdog is None:
            self.watchdog = RssWatchdog()
        return self.watchdog

    def check_report(self, report: dict | None) -> None:
        """A confinement report from a new environment: log each kind of refusal once."""
        if not report:
            return
        for step, why in report.get("refused") or ():
            self.warn_once(f"environment confinement incomplete: {step}: {why}")

    def warn_once(self, msg: str) -> None:
        if msg not in self._warned:
            if len(self._warned) < 1000:
                self._warned.add(msg)
            log.warning("%s", msg)

    async def close(self) -> None:
        """Wait for pending cgroup removals; remove this engine's cgroup scope."""
        self._closed = True
        if self.watchdog is not None:
            await self.watchdog.close()
        stock, self._stock = self._stock, []
        for g in stock:
            self.release_group(g)
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        if self.cgroups:
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: cg.cleanup_stale(scope=self.scope, remove_parent=True))
            except OSError:  # pragma: no cover
                pass


def runtime_dir_of(path: str | os.PathLike) -> str:
    return str(Path(path).resolve())
