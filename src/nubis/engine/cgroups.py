"""One cgroup per execution environment: memory limit, process limit, CPU share.

Where the cgroups go: under the server's *own* cgroup in each hierarchy, in
``nubis/<scope>/<env-id>``. On a host where the server runs in the root cgroup that is
``/sys/fs/cgroup/{memory,pids,cpu}/nubis/<scope>/<env-id>``; under systemd (or any
supervisor that gives the server a cgroup) the environments stay inside the server's
cgroup, so the operator's limits on the server still cover them. ``NUBIS_CGROUP_PARENT``
(or ``parent=``) replaces ``<server's cgroup>/nubis``, as a path relative to each
hierarchy's mount.

The *scope* separates server instances that share a hierarchy (several servers, test
runs, the probe): each only ever creates, cleans up and kills inside its own scope. The
server should use ``scope_for(data_dir)``, which is stable across restarts, so that
``cleanup_stale(scope)`` at start-up removes what a crashed predecessor left; the default
is ``pid-<server pid>``, and ``cleanup_dead()`` removes ``pid-N``/``probe-N`` scopes of
processes that are gone.

Each controller is taken from a cgroup v1 hierarchy when one is mounted with it, else
from the v2 (unified) hierarchy when the controller is available there. v2 has the
"no internal processes" rule: the server's own cgroup cannot delegate controllers while
the server is a member, so on a pure-v2 host either run the server in the root cgroup,
or set ``NUBIS_CGROUP_PARENT`` to a cgroup delegated to the server that holds no process
(systemd ``Delegate=yes`` with the server in a leaf such as ``.../nubis.service/server``).

Limits per environment (the engine passes MemorySize in MB):

* memory: ``memory.limit_in_bytes`` = MemorySize, and ``memory.memsw.limit_in_bytes`` the
  same when swap accounting exists, so swapping cannot hide usage (v2: ``memory.max`` and
  ``memory.swap.max=0``, plus ``memory.oom.group=1`` so an OOM kills the whole environment).
* pids: ``pids.max`` = 1024 (Lambda's per-environment process/thread limit).
* cpu: ``cpu.shares`` = 1024 * MB / 1769 (1769 MB is one vCPU on Lambda; 1024 is the
  default weight of every other cgroup, so one 1769 MB environment competes like one
  ordinary process group). Shares are work-conserving: an environment may use idle
  CPU, and only under contention does it get its proportion. A hard cap
  (``cpu.cfs_quota_us`` = period * MB / 1769, Lambda's behaviour) is available with
  ``cpu_hard_cap=True`` but is off by default: it makes a 128 MB function's init 14x
  slower in wall time on an idle machine, which would turn millisecond cold starts into
  hundreds of milliseconds for no benefit to anyone when the CPU is idle.

Note on accounting: pages are charged to the cgroup that first touches them. A child
forked from a zygote shares the zygote's pages copy-on-write; those stay charged to the
zygote's cgroup, so ``peak_mb()`` measures what the environment itself added (its heap,
its /tmp tmpfs pages, page cache it read in), not the runtime's inherited memory.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import time
from dataclasses import dataclass, field
from functools import lru_cache

CONTROLLERS = ("memory", "pids", "cpu")
DEFAULT_PIDS_MAX = 1024
MB_PER_VCPU = 1769
CFS_PERIOD_US = 100_000
PARENT_ENV = "NUBIS_CGROUP_PARENT"
_V1_CONTROLLERS = frozenset(
    "cpu cpuacct cpuset memory devices freezer net_cls net_prio blkio perf_event hugetlb pids rdma misc".split()
)


class CgroupUnavailable(OSError):
    """No controller could be set up for an environment on this host."""


@dataclass(frozen=True)
class Hierarchy:
    controller: str
    version: int  # 1 or 2
    mount: str  # where the hierarchy is mounted
    own: str  # this process's cgroup in it, relative to the mount ("/" or "/a/b")


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1 : i + 4].isdigit() and len(s[i + 1 : i + 4]) == 3:
            out.append(chr(int(s[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def layout(refresh: bool = False) -> dict[str, Hierarchy]:
    """Where each of memory, pids and cpu can be found (v1 preferred), for this process."""
    if refresh:
        _layout.cache_clear()
    return dict(_layout())


@lru_cache(maxsize=1)
def _layout() -> tuple[tuple[str, Hierarchy], ...]:
    try:
        mountinfo = _read("/proc/self/mountinfo")
        own = _read("/proc/self/cgroup")
    except OSError:
        return ()
    return tuple(parse_layout(mountinfo, own).items())


def parse_layout(mountinfo: str, self_cgroup: str, read=_read) -> dict[str, Hierarchy]:
    """memory/pids/cpu -> Hierarchy from /proc/self/mountinfo and /proc/self/cgroup
    texts (``read`` reads a v2 ``cgroup.controllers`` file)."""
    own_v1: dict[frozenset, str] = {}
    own_v2: str | None = None
    for line in self_cgroup.splitlines():
        if line.count(":") < 2:
            continue
        hid, ctrls, path = line.split(":", 2)
        if hid == "0" and ctrls == "":
            own_v2 = path
        else:
            own_v1[frozenset(c for c in ctrls.split(",") if c in _V1_CONTROLLERS)] = path
    v1: dict[str, Hierarchy] = {}
    v2_mount: tuple[str, str] | None = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        lf, rf = left.split(), right.split()
        if len(lf) < 5 or len(rf) < 3:
            continue
        root, mnt, fstype, opts = _unescape(lf[3]), _unescape(lf[4]), rf[0], rf[2]
        if fstype == "cgroup":
            ctrls = frozenset(o for o in opts.split(",") if o in _V1_CONTROLLERS)
            own = own_v1.get(ctrls)
            if own is None:
                continue
            for c in CONTROLLERS:
                if c in ctrls and c not in v1:
                    v1[c] = Hierarchy(c, 1, mnt, _relative(own, root))
        elif fstype == "cgroup2" and v2_mount is None:
            v2_mount = (mnt, root)
    out: dict[str, Hierarchy] = dict(v1)
    if v2_mount is not None and own_v2 is not None:
        mnt, root = v2_mount
        own = _relative(own_v2, root)
        try:
            avail = set(read(_join(mnt, own, "cgroup.controllers")).split())
        except OSError:
            avail = set()
        for c in CONTROLLERS:
            if c not in out and c in avail:
                out[c] = Hierarchy(c, 2, mnt, own)
    return out


def _relative(own: str, root: str) -> str:
    if root != "/" and (own == root or own.startswith(root + "/")):
        own = own[len(root):] or "/"
    return own or "/"


def _join(mount: str, *parts: str) -> str:
    p = mount.rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            p += "/" + part
    return p


_default_scope: list[str] = []


def set_default_scope(scope: str) -> None:
    """The scope used when ``create``/``cleanup_stale`` get none (the server sets
    ``scope_for(data_dir)`` once at start-up)."""
    _check_name(scope, "scope")
    _default_scope[:] = [scope]


def default_scope() -> str:
    return _default_scope[0] if _default_scope else f"pid-{os.getpid()}"


def scope_for(data_dir: str) -> str:
    """A scope name stable for one data dir (one server instance) across restarts."""
    import hashlib

    return "srv-" + hashlib.sha1(os.path.realpath(data_dir).encode()).hexdigest()[:12]


def _check_name(name: str, what: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\n" in name:
        raise ValueError(f"bad {what} {name!r}")


def _base_rel(h: Hierarchy, parent: str | None) -> str:
    parent = parent if parent is not None else os.environ.get(PARENT_ENV)
    if parent:
        return "/" + parent.strip("/")
    return _join("", h.own, "nubis") or "/nubis"


def _parent_rel(h: Hierarchy, parent: str | None, scope: str | None = None) -> str:
    return _join("", _base_rel(h, parent), scope or default_scope())


def _write(path: str, value: str | int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _read_int(path: str) -> int | None:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_keyed(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in _read(path).splitlines():
            k, _, v = line.partition(" ")
            try:
                out[k] = int(v)
            except ValueError:
                pass
    except OSError:
        pass
    return out


def cpu_shares(memory_mb: int) -> int:
    """v1 cpu.shares for a memory size: 1024 per 1769 MB, within the kernel's [2, 262144]."""
    return max(2, min(262144, round(1024 * memory_mb / MB_PER_VCPU)))


def cpu_weight(memory_mb: int) -> int:
    """v2 cpu.weight: 100 (the default) per 1769 MB, within [1, 10000]."""
    return max(1, min(10000, round(100 * memory_mb / MB_PER_VCPU)))


def cpu_quota_us(memory_mb: int, period_us: int = CFS_PERIOD_US) -> int:
    return max(1000, round(period_us * memory_mb / MB_PER_VCPU))


def available() -> bool:
    """True when the host probe created a real environment cgroup with a memory limit."""
    from .isolation import probe  # the probe imports this module

    return bool(probe()["available"].get("cgroups"))


@dataclass
class EnvCgroup:
    """The cgroup(s) of one execution environment. ``dirs`` maps controller -> dir."""

    env_id: str
    memory_mb: int
    dirs: dict[str, str]
    versions: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    _oom_base: int = 0
    _fail_base: int = 0
    _peak_fd: int | None = None  # see _window_fd: kept open (read/reset per invocation)
    _memory_limited: bool = False
    _memsw: bool = False  # v1 swap accounting (memory.memsw.*) present

    # ------------------------------------------------------------------ create

    @classmethod
    def create(
        cls,
        env_id: str,
        memory_mb: int,
        *,
        pids_max: int | None = DEFAULT_PIDS_MAX,
        cpu_hard_cap: bool = False,
        parent: str | None = None,
        scope: str | None = None,
        controllers: tuple[str, ...] = CONTROLLERS,
    ) -> "EnvCgroup":
        """Create (or take over a stale) cgroup per available controller and set the
        limits. Raises CgroupUnavailable when the memory controller cannot be set up
        (then nothing is left behind); other controllers missing are ``warnings``."""
        _check_name(env_id, "environment id")
        if scope is not None:
            _check_name(scope, "scope")
        lay = layout()
        self = cls(env_id, memory_mb, {}, {})
        for c in controllers:
            h = lay.get(c)
            if h is None:
                self.warnings.append(f"{c}: controller not mounted/available")
                continue
            par = _join(h.mount, _parent_rel(h, parent, scope))
            d = _join(par, env_id)
            try:
                if h.version == 2:
                    self._v2_prepare(h, par, c)
                for attempt in (0, 1):
                    os.makedirs(par, exist_ok=True)
                    try:
                        os.mkdir(d)
                    except FileExistsError:
                        pass  # stale, from a crashed server: reuse it (killed below)
                    except FileNotFoundError:
                        if attempt:  # the parent was removed under us twice
                            raise
                        continue
                    break
                self.dirs[c] = d
                self.versions[c] = h.version
            except OSError as e:
                self.warnings.append(f"{c}: cannot create {d}: {os.strerror(e.errno)}")
        try:
            if self.dirs:
                self.kill_all()  # a reused stale group may still hold processes
            self._configure(pids_max, cpu_hard_cap)
        except BaseException:
            self.destroy(remove_parent_if_empty=True)
            raise
        if "memory" in controllers and ("memory" not in self.dirs or not self._memory_limited):
            self.destroy(remove_parent_if_empty=True)
            raise CgroupUnavailable(errno.ENOTSUP, "; ".join(self.warnings) or "memory cgroup unavailable")
        self._oom_base = self.oom_kill_count()
        self._fail_base = self._failcnt()
        return self

    @staticmethod
    def _v2_prepare(h: Hierarchy, parent_dir: str, c: str) -> None:
        # Enable the controller down to the nubis parent: in each ancestor between the
        # server's cgroup (or the configured parent's parent) and parent_dir.
        rel = parent_dir[len(h.mount.rstrip("/")):]
        parts = [p for p in rel.split("/") if p]
        cur = h.mount.rstrip("/")
        for i in range(len(parts) + 1):
            sc = cur + "/cgroup.subtree_control"
            try:
                if c not in _read(sc).split():
                    _write(sc, f"+{c}")
            except OSError as e:
                if e.errno == errno.EBUSY:
                    raise OSError(
                        e.errno,
                        f"{cur} holds processes and cannot delegate {c} (cgroup v2 rule); "
                        f"set {PARENT_ENV} to an empty delegated cgroup",
                    ) from None
                if e.errno != errno.ENOENT:
                    raise
            if i < len(parts):
                cur += "/" + parts[i]
                os.makedirs(cur, exist_ok=True)

    def _set(self, c: str, name: str, value, *, optional: bool = False) -> bool:
        d = self.dirs.get(c)
        if d is None:
            return False
        path = f"{d}/{name}"
        try:
            _write(path, value)
            return True
        except OSError as e:
            if not (optional and e.errno == errno.ENOENT):
                self.warnings.append(f"{c}: {name}={value}: {os.strerror(e.errno)}")
            return False

    def _configure(self, pids_max: int | None, cpu_hard_cap: bool) -> None:
        limit = int(self.memory_mb) * 1024 * 1024
        if "memory" in self.dirs:
            if self.versions["memory"] == 1:
                # The kernel keeps memsw >= memory at every step: lift memsw, set memory,
                # then bring memsw down to it (a reused stale group may have any limits).
                memsw = self._memsw = os.path.exists(f"{self.dirs['memory']}/memory.memsw.limit_in_bytes")
                if memsw:
                    self._set("memory", "memory.memsw.limit_in_bytes", -1)
                if self._set("memory", "memory.limit_in_bytes", limit):
                    self._memory_limited = True
                    if memsw:
                        self._set("memory", "memory.memsw.limit_in_bytes", limit)
                    else:
                        self.warnings.append("memory: no swap accounting (memsw); swap is not limited")
                self._set("memory", "memory.swappiness", 0, optional=True)
            else:
                self._memory_limited = self._set("memory", "memory.max", limit)
                self._set("memory", "memory.swap.max", 0, optional=True)
                self._set("memory", "memory.oom.group", 1, optional=True)
        if "pids" in self.dirs and pids_max is not None:
            self._set("pids", "pids.max", int(pids_max))
        if "cpu" in self.dirs:
            if self.versions["cpu"] == 1:
                self._set("cpu", "cpu.shares", cpu_shares(self.memory_mb))
                if cpu_hard_cap:
                    self._set("cpu", "cpu.cfs_period_us", CFS_PERIOD_US)
                    self._set("cpu", "cpu.cfs_quota_us", cpu_quota_us(self.memory_mb))
            else:
                self._set("cpu", "cpu.weight", cpu_weight(self.memory_mb))
                if cpu_hard_cap:
                    self._set("cpu", "cpu.max", f"{cpu_quota_us(self.memory_mb)} {CFS_PERIOD_US}")

    def set_memory(self, memory_mb: int) -> bool:
        """Change the memory limit (and the CPU share that follows it) of an existing group,
        e.g. one created ahead of its function. Returns False if the kernel refused (the
        group already uses more than the new limit)."""
        memory_mb = int(memory_mb)
        if memory_mb == self.memory_mb:
            return True
        limit = memory_mb * 1024 * 1024
        grow = memory_mb > self.memory_mb
        ok = True
        if "memory" in self.dirs:
            if self.versions["memory"] == 1:
                # The kernel keeps memsw >= memory at every step.
                steps = ["memory.limit_in_bytes"]
                if self._memsw:
                    steps = ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"] if grow else [
                        "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
                for name in steps:
                    ok = self._set("memory", name, limit) and ok
            else:
                ok = self._set("memory", "memory.max", limit)
        if "cpu" in self.dirs:
            if self.versions["cpu"] == 1:
                self._set("cpu", "cpu.shares", cpu_shares(memory_mb))
            else:
                self._set("cpu", "cpu.weight", cpu_weight(memory_mb))
        if ok:
            self.memory_mb = memory_mb
        return ok

    # ------------------------------------------------------------------ membership

    @property
    def procs_files(self) -> tuple[str, ...]:
        """The ``cgroup.procs`` files a child writes ``0`` to in order to join
        (``confinement.ConfinementConfig.cgroup_procs``). One per distinct directory."""
        seen: list[str] = []
        for d in self.dirs.values():
            p = f"{d}/cgroup.procs"
            if p not in seen:
                seen.append(p)
        return tuple(seen)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (the whole thread group) into every controller's cgroup."""
        for p in self.procs_files:
            _write(p, pid)

    def join_self(self) -> None:
        """Move the calling process in (what a forked child does: see confinement.join_cgroups)."""
        for p in self.procs_files:
            _write(p, 0)

    def pids(self) -> list[int]:
        out: set[int] = set()
        for p in self.procs_files:
            try:
                out.update(int(x) for x in _read(p).split())
            except OSError:
                pass
        return sorted(out)

    # ------------------------------------------------------------------ memory

    def _mem(self, name: str) -> str | None:
        d = self.dirs.get("memory")
        return f"{d}/{name}" if d else None

    def usage_bytes(self) -> int | None:
        if "memory" not in self.dirs:
            return None
        return _read_int(self._mem("memory.usage_in_bytes" if self.versions["memory"] == 1 else "memory.current"))

    def _window_fd(self) -> int:
        """The kept read/write fd on the file that holds the peak window: ``memory.peak`` on v2
        (its reset applies to that open file only) or ``memory.max_usage_in_bytes`` on v1.
        Opened once, closed by :meth:`destroy`. Raises OSError."""
        if self._peak_fd is None:
            name = "memory.peak" if self.versions["memory"] == 2 else "memory.max_usage_in_bytes"
            self._peak_fd = os.open(self._mem(name), os.O_RDWR | os.O_CLOEXEC)
        return self._peak_fd

    def peak_bytes(self) -> int | None:
        """Peak memory of the environment since creation or the last :meth:`reset_peak` /
        :meth:`new_window`, read through the kept fd."""
        if "memory" not in self.dirs:
            return None
        try:
            return int(os.pread(self._window_fd(), 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def peak_mb(self) -> int | None:
        """"Max Memory Used" in MB (rounded up), or None without a memory cgroup."""
        b = self.peak_bytes()
        return None if b is None else math.ceil(b / (1024 * 1024))

    def reset_peak(self) -> bool:
        """Start a new peak window (between invocations) and a new OOM window.
        v1: writing 0 to max_usage_in_bytes resets it to the current usage. v2 (kernel
        6.12+): writing to an open memory.peak resets it for that open file only, which
        this object keeps. Returns False where the kernel cannot reset."""
        self._oom_base = self.oom_kill_count()
        self._fail_base = self._failcnt()
        if "memory" not in self.dirs:
            return False
        if self.versions["memory"] == 1:
            ok = self._set("memory", "memory.max_usage_in_bytes", 0)
            self._set("memory", "memory.memsw.max_usage_in_bytes", 0, optional=True)
            return ok
        return self.new_window()

    def new_window(self) -> bool:
        """:meth:`reset_peak` for the hot path (one write on a kept fd; the OOM window is left
        alone: an OOM anywhere in an environment's life ends it)."""
        if "memory" not in self.dirs:
            return False
        try:
            os.pwrite(self._window_fd(), b"reset\n" if self.versions["memory"] == 2 else b"0", 0)
            return True
        except OSError:
            return False

    def window_peak_bytes(self) -> int | None:
        """The peak since :meth:`new_window` (or creation): :meth:`peak_bytes`."""
        return self.peak_bytes()

    def oom_eventfd(self) -> int | None:
        """A non-blocking eventfd the kernel signals when this group hits an OOM (cgroup v1
        ``cgroup.event_control`` on ``memory.oom_control``; it is also signalled when the group
        is removed). None on v2 or where the kernel refuses. The caller closes it."""
        if "memory" not in self.dirs or self.versions["memory"] != 1 or not hasattr(os, "eventfd"):
            return None
        efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            ctl = os.open(self._mem("memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                _write(self._mem("cgroup.event_control"), f"{efd} {ctl}")
            finally:
                os.close(ctl)  # the kernel holds its own reference
        except OSError:
            os.close(efd)
            return None
        return efd

    def oom_kill_count(self) -> int:
        """Processes the kernel OOM-killed in this cgroup since it was created."""
        if "memory" not in self.dirs:
            return 0
        name = "memory.oom_control" if self.versions["memory"] == 1 else "memory.events"
        return _read_keyed(self._mem(name)).get("oom_kill", 0)

    def _failcnt(self) -> int:
        if "memory" not in self.dirs:
            return 0
        if self.versions["memory"] == 1:
            return _read_int(self._mem("memory.failcnt")) or 0
        return _read_keyed(self._mem("memory.events")).get("max", 0)

    def under_oom(self) -> bool:
        if "memory" not in self.dirs or self.versions["memory"] != 1:
            return False
        return bool(_read_keyed(self._mem("memory.oom_control")).get("under_oom", 0))

    def oom_killed(self, wait_status: int | None = None) -> bool:
        """Whether the kernel OOM-killed something in the environment since creation or
        the last :meth:`reset_peak`. Uses the ``oom_kill`` counter (kernel 4.13+); where
        it is missing, falls back to "the limit was hit (failcnt rose) and the process
        died of SIGKILL" when ``wait_status`` is given.

        cgroup v1 kills one process (the largest), which may be a subprocess of the
        function rather than the runtime; v2 kills the whole group (memory.oom.group)."""
        if "memory" not in self.dirs:
            return False
        name = "memory.oom_control" if self.versions["memory"] == 1 else "memory.events"
        counters = _read_keyed(self._mem(name))
        if "oom_kill" in counters:
            return counters["oom_kill"] > self._oom_base
        hit = self._failcnt() > self._fail_base
        if wait_status is None:
            return hit
        return hit and os.WIFSIGNALED(wait_status) and os.WTERMSIG(wait_status) == signal.SIGKILL

    # ------------------------------------------------------------------ teardown

    def kill_all(self, timeout: float = 2.0) -> int:
        """SIGKILL every process in the environment until none is left (processes
        forking meanwhile are caught on the next pass). Returns how many were signalled.
        v2 uses cgroup.kill where the kernel has it (5.14+)."""
        killed = 0
        for c, d in self.dirs.items():
            if self.versions[c] == 2 and os.path.exists(f"{d}/cgroup.kill"):
                try:
                    _write(f"{d}/cgroup.kill", 1)
                except OSError:
                    pass
                break
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            pids = self.pids()
            if not pids:
                return killed
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                self.warnings.append(f"kill_all: {len(pids)} processes still present after {timeout}s")
                return killed
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def destroy(self, timeout: float = 2.0, *, remove_parent_if_empty: bool = False) -> bool:
        """Kill everything inside and remove the directories. Returns True when no
        directory is left. Idempotent. With ``remove_parent_if_empty`` the scope and
        ``nubis`` directories go too when nothing else is left in them."""
        parents = {os.path.dirname(d) for d in self.dirs.values()}
        ok = self._destroy(timeout)
        if ok and remove_parent_if_empty:
            for p in parents:
                _rmdir_up(p, 2)
        return ok

    def _destroy(self, timeout: float) -> bool:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        if self.dirs:
            self.kill_all(timeout)
        deadline = time.monotonic() + timeout
        left = dict(self.dirs)
        delay = 0.0005
        while left:
            for c, d in list(left.items()):
                try:
                    os.rmdir(d)
                    del left[c]
                except FileNotFoundError:
                    del left[c]
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        self.warnings.append(f"{c}: cannot remove {d}: {os.strerror(e.errno)}")
                        self.dirs = {k: v for k, v in self.dirs.items() if k in left}
                        return False
            if left:
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        self.dirs = {}
        return True


def _rmdir_up(path: str, levels: int) -> None:
    """rmdir ``path`` and up to ``levels - 1`` parents while they are empty cgroups."""
    for _ in range(levels):
        try:
            os.rmdir(path)
        except OSError:
            return
        path = os.path.dirname(path)


def parent_dirs(parent: str | None = None, scope: str | None = None) -> dict[str, str]:
    """The scope directory per controller (where this server's environments are created)."""
    return {c: _join(h.mount, _parent_rel(h, parent, scope)) for c, h in layout().items()}


def _destroy_children(c: str, par: str) -> list[str]:
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(par) if os.path.isdir(f"{par}/{n}")]
    except FileNotFoundError:
        return removed
    h = layout()[c]
    for n in names:
        g = EnvCgroup(n, 0, {c: f"{par}/{n}"}, {c: h.version})
        if g.destroy():
            removed.append(f"{par}/{n}")
    return removed


def cleanup_stale(scope: str | None = None, parent: str | None = None, remove_parent: bool = False) -> list[str]:
    """Kill and remove every environment cgroup left in ``scope`` (default: the default
    scope). Call once at start-up, before creating environments (a crashed server's
    leftovers), and at shutdown with ``remove_parent=True``. Never touches another
    scope. Returns the directories removed."""
    removed: list[str] = []
    for c, par in parent_dirs(parent, scope).items():
        removed += _destroy_children(c, par)
        if remove_parent and os.path.isdir(par):
            _rmdir_up(par, 2)
            if not os.path.isdir(par):
                removed.append(par)
    return removed


def _scope_dirs(parent: str | None):
    """(controller, base dir, scope names) for each mounted controller whose base dir exists."""
    for c, h in layout().items():
        base = _join(h.mount, _base_rel(h, parent))
        try:
            yield c, base, [n for n in os.listdir(base) if os.path.isdir(f"{base}/{n}")]
        except FileNotFoundError:
            continue


def cleanup_dead(parent: str | None = None, min_age_s: float = 5.0) -> list[str]:
    """Remove the scopes named ``pid-N`` or ``probe-N[-...]`` whose process N is gone
    (servers or probes killed before they could clean up) and that are older than
    ``min_age_s`` (so that a scope being created right now is never raced)."""
    now = time.time()
    removed: list[str] = []
    for c, base, scopes in _scope_dirs(parent):
        for name in scopes:
            kind, _, rest = name.partition("-")
            pid = rest.split("-", 1)[0]
            if kind not in ("pid", "probe") or not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
                continue
            try:
                if now - os.stat(f"{base}/{name}").st_mtime < min_age_s:
                    continue
            except OSError:
                continue
            removed += _destroy_children(c, f"{base}/{name}")
            try:
                os.rmdir(f"{base}/{name}")
                removed.append(f"{base}/{name}")
            except OSError:
                pass
        _rmdir_up(base, 1)
    return removed


def cleanup_abandoned(parent: str | None = None, min_age_s: float = 120.0) -> list[str]:
    """Remove environment cgroups of any scope that hold no process and are older than
    ``min_age_s``, and scopes left empty (a server killed with ``kill -9`` whose data dir is
    never used again leaves its ``srv-…`` scope behind). A live server's group is empty only
    for the moment between its creation and its process joining it, so the age keeps them
    safe. Groups with processes in them are left alone."""
    now = time.time()
    removed: list[str] = []
    for _c, base, scopes in _scope_dirs(parent):
        for name in scopes:
            sdir = f"{base}/{name}"
            try:
                groups = [n for n in os.listdir(sdir) if os.path.isdir(f"{sdir}/{n}")]
            except OSError:
                continue
            for g in groups:
                d = f"{sdir}/{g}"
                try:
                    if now - os.stat(d).st_mtime < min_age_s or _read(f"{d}/cgroup.procs").strip():
                        continue
                    os.rmdir(d)
                    removed.append(d)
                except OSError:
                    pass
            try:
                if now - os.stat(sdir).st_mtime >= min_age_s:
                    os.rmdir(sdir)  # only if empty
                    removed.append(sdir)
            except OSError:
                pass
        _rmdir_up(base, 1)
    return removed
