"""MemorySize for one execution environment: noticing it was exceeded, and measuring Max Memory Used.

On Lambda, going past MemorySize ends the whole environment (``Runtime.OutOfMemory``), whichever
of its processes allocated; REPORT's ``Max Memory Used`` is the peak memory of the environment
during that invocation (a process that keeps freed memory, like a JVM, keeps reporting it; memory
given back to the system is not counted again).

A :class:`MemoryGuard` per environment does that on top of what the host offers:

* **memory cgroup** (the limit itself is the cgroup's, :mod:`nubis.engine.cgroups`). cgroup v1
  OOM-kills one process, the largest, which may be a child the handler started while the runtime
  carries on; so the guard registers an eventfd for the group's OOM notification
  (``cgroup.event_control`` + ``memory.oom_control``), and the environment ends as soon as it fires.
  (v2 kills the whole group with ``memory.oom.group``: the runtime's SIGKILL says so.)
  The peak is ``memory.max_usage_in_bytes``, reset (write 0) when an invocation starts.
* **no cgroup**: an :class:`RssWatchdog` sums the resident memory of the environment's process
  group every few tens of ms and ends the environment past MemorySize; the runtime's own peak RSS
  (reported with its result) is checked exactly when the invocation ends; Python runtimes also get
  ``RLIMIT_AS`` = their address space at start + MemorySize + 2 GiB, a backstop for allocations
  faster than the watchdog (not tighter: address space is not memory, and threads reserve lots).

Either way the runtime's peak RSS (VmHWM, reset per invocation through ``/proc/<pid>/clear_refs``)
counts too: pages a forked environment shares with its zygote are charged to the zygote's cgroup,
yet Lambda counts the runtime's memory.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import resource
import time
from typing import Callable

log = logging.getLogger("nubis.engine")

RENEW_MAX_AGE_S = 0.002  # a window opened (renew) longer than this before an invocation is opened again
# An OOM in a window means the group's usage came within one charge of its limit then; below
# limit - this margin in the window's peak, its notification cannot be pending (no read for it).
OOM_MARGIN_BYTES = 8 << 20
AS_HEADROOM = 2 << 30  # RLIMIT_AS = address space at start + MemorySize + this
WATCH_INTERVAL_S = 0.025  # the RSS watchdog's tick (longer when a /proc scan is slow: see RssWatchdog)
WATCH_MAX_SHARE = 0.05  # ... so that scanning takes at most this share of the server's time
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def kb_to_mb(kb: int) -> int:
    return math.ceil(kb / 1024)


class MemoryGuard:
    """Watches one environment's memory. ``on_exceeded`` is called (from the loop) once the
    environment went past MemorySize; :meth:`begin` opens an invocation's window, :meth:`tripped`
    is the exact check when it ends, :meth:`peak_kb` its peak."""

    __slots__ = ("memory_mb", "group", "pid", "on_exceeded", "watchdog", "tripped_flag", "sampled_kb",
                 "_loop", "_efd", "_refs_fd", "_closed", "_renewed", "_near_bytes")

    def __init__(self, memory_mb: int, pid: int, on_exceeded: Callable[[], None], *, group=None,
                 watchdog: "RssWatchdog | None" = None) -> None:
        self.memory_mb = int(memory_mb)
        self.group = group
        self.pid = pid
        self.on_exceeded = on_exceeded
        self.watchdog = watchdog if group is None else None
        self.tripped_flag = False
        self.sampled_kb = 0  # the watchdog's largest sum in this window
        self._loop: asyncio.AbstractEventLoop | None = None
        self._efd: int | None = None
        self._refs_fd: int | None = None
        self._closed = False
        self._renewed = 0.0  # perf_counter() when renew() opened the next window (0: begin() opens it)
        self._near_bytes = max(0, self.memory_mb * (1 << 20) - OOM_MARGIN_BYTES)

    @property
    def limit_kb(self) -> int:
        return self.memory_mb * 1024

    def start(self, loop: asyncio.AbstractEventLoop, *, rlimit_as: bool = False) -> None:
        """Begin watching (the environment's process exists)."""
        self._loop = loop
        try:
            self._refs_fd = os.open(f"/proc/{self.pid}/clear_refs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            self._refs_fd = None
        g = self.group
        if g is not None:
            try:
                self._efd = g.oom_eventfd()
            except OSError as e:  # pragma: no cover - registration refused
                log.debug("no OOM notification for %s: %s", g.env_id, e)
            if self._efd is not None:
                loop.add_reader(self._efd, self._on_event)
        elif self.watchdog is not None:
            if rlimit_as:
                set_rlimit_as(self.pid, self.memory_mb)
            self.watchdog.add(self)

    def begin(self) -> None:
        """An invocation starts: its peak starts from the current usage (or from when
        :meth:`renew` opened its window, if that was at most RENEW_MAX_AGE_S ago)."""
        renewed, self._renewed = self._renewed, 0.0
        if renewed and time.perf_counter() - renewed < RENEW_MAX_AGE_S:
            return
        self._open_window()

    def renew(self) -> None:
        """The last invocation's peak has been read and its answer sent: open the next window
        now, so that an invocation coming right after it starts without these system calls
        (off its latency path). Only call it while the environment is idle."""
        self._open_window()
        self._renewed = time.perf_counter()

    def _open_window(self) -> None:
        if self._refs_fd is not None:
            try:
                os.write(self._refs_fd, b"5")  # reset VmHWM (and so ru_maxrss) to the current RSS
            except OSError:
                pass
        if self.group is not None:
            self.group.new_window()
        self.sampled_kb = 0

    def tripped(self, rss_kb: int = 0) -> bool:
        """Has the environment gone past MemorySize? (Exact for the runtime's own peak ``rss_kb``
        without a cgroup; with one, whether its OOM notification is pending.)"""
        if self.tripped_flag:
            return True
        if self._efd is not None:
            try:
                os.eventfd_read(self._efd)
            except BlockingIOError:
                return False
            except OSError:  # pragma: no cover
                return False
            return self._notified()
        if self.group is None and self.watchdog is not None and rss_kb > self.limit_kb:
            self.tripped_flag = True
        return self.tripped_flag

    def end(self, rss_kb: int = 0) -> tuple[bool, int]:
        """An invocation ended (the runtime's peak RSS ``rss_kb``): (:meth:`tripped`,
        :meth:`peak_kb`), with one read of the group's peak for both. The OOM notification is
        read only when that peak came near the limit (an OOM in this window needs it)."""
        if self.tripped_flag:
            return True, self.peak_kb()
        g = self.group
        if g is None:
            return self.tripped(rss_kb), self.sampled_kb
        b = g.window_peak_bytes()
        if self._efd is not None and (b is None or b >= self._near_bytes) and self.tripped(rss_kb):
            return True, 0 if b is None else -(-b // 1024)
        return self.tripped_flag, 0 if b is None else -(-b // 1024)

    def peak_kb(self) -> int:
        """The environment's peak in the current window, as far as measured here (0: unknown)."""
        if self.group is not None:
            b = self.group.window_peak_bytes()
            return 0 if b is None else -(-b // 1024)
        return self.sampled_kb

    def _notified(self) -> bool:
        """The OOM eventfd fired. The kernel signals it before it picks and kills a process (so
        the ``oom_kill`` counter may not have moved yet) and when the group is removed: the
        latter cannot happen while the environment has processes, so a group still there hit
        its limit."""
        d = self.group.dirs.get("memory")
        if d is not None and os.path.isdir(d):
            self.tripped_flag = True
        return self.tripped_flag

    def _on_event(self) -> None:
        try:
            os.eventfd_read(self._efd)
        except OSError:
            return
        if not self._closed and not self.tripped_flag and self._notified():
            self.on_exceeded()

    def sampled(self, kb: int) -> None:
        """The watchdog's measurement (resident kB of the environment's processes)."""
        if kb > self.sampled_kb:
            self.sampled_kb = kb
        if kb > self.limit_kb and not self.tripped_flag and not self._closed:
            self.tripped_flag = True
            self.on_exceeded()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._efd is not None:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(self._efd)
                except Exception:  # pragma: no cover - loop closed
                    pass
            os.close(self._efd)
            self._efd = None
        if self._refs_fd is not None:
            os.close(self._refs_fd)
            self._refs_fd = None
        if self.watchdog is not None:
            self.watchdog.discard(self)


def set_rlimit_as(pid: int, memory_mb: int) -> int | None:
    """Give process ``pid`` an address-space limit of its current size + MemorySize + AS_HEADROOM
    (inherited by the processes it starts later). Returns the limit, or None if refused."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            size_pages = int(f.read().split()[0])
        limit = size_pages * _PAGE_KB * 1024 + int(memory_mb) * (1 << 20) + AS_HEADROOM
        resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
        return limit
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def scan_rss_by_group() -> dict[int, int]:
    """Resident kB per process group, from /proc/<pid>/stat of every process."""
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(b")") + 2:].split()  # the comm field may hold spaces
        try:
            pgrp, rss = int(rest[2]), int(rest[21])
        except (IndexError, ValueError):
            continue
        out[pgrp] = out.get(pgrp, 0) + rss * _PAGE_KB
    return out


class RssWatchdog:
    """Without memory cgroups: every tick, the resident memory of each watched environment's process
    group (its runtime is the group leader; processes that start their own session escape it, but
    keep the address-space limit they inherited)."""

    def __init__(self) -> None:
        self.guards: set[MemoryGuard] = set()
        self._task: asyncio.Task | None = None
        self.interval = WATCH_INTERVAL_S

    def add(self, guard: MemoryGuard) -> None:
        self.guards.add(guard)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def discard(self, guard: MemoryGuard) -> None:
        self.guards.discard(guard)

    def check(self) -> None:
        """One tick: measure every watched environment."""
        t0 = time.perf_counter()
        by_group = scan_rss_by_group()
        for guard in list(self.guards):
            guard.sampled(by_group.get(guard.pid, 0))
        cost = time.perf_counter() - t0
        self.interval = max(WATCH_INTERVAL_S, cost / WATCH_MAX_SHARE)

    async def _run(self) -> None:
        while self.guards:
            await asyncio.sleep(self.interval)
            try:
                self.check()
            except Exception:  # pragma: no cover - keep watching
                log.exception("memory watchdog")
        self._task = None

    async def close(self) -> None:
        self.guards.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
