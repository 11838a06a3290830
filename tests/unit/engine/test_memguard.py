"""memguard without cgroups: the RSS scan per process group, the RLIMIT_AS backstop, the watchdog."""
from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys

import pytest

from nubis.engine import memguard as mg

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")

HOLD = "import sys, time; x = bytearray(int(sys.argv[1]) * 2**20); print('ok', flush=True); time.sleep(30)"


def hog(mb: int) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(mb)], stdout=subprocess.PIPE, start_new_session=True)
    assert p.stdout.readline() == b"ok\n"
    return p


def test_rss_is_summed_per_process_group():
    p = hog(80)
    try:
        kb = mg.scan_rss_by_group()[p.pid]  # its own session: pgid == pid
        assert 80 * 1024 <= kb < 200 * 1024
    finally:
        p.kill()
        p.wait()


def test_rlimit_as_is_size_plus_memory_plus_headroom():
    p = hog(1)
    try:
        with open(f"/proc/{p.pid}/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mg.set_rlimit_as(p.pid, 128)
        assert limit == size + (128 << 20) + mg.AS_HEADROOM
        assert resource.prlimit(p.pid, resource.RLIMIT_AS) == (limit, limit)
    finally:
        p.kill()
        p.wait()
    assert mg.set_rlimit_as(p.pid, 128) is None  # gone: refused, not raised


def test_watchdog_ends_an_environment_past_its_memory_and_measures_the_rest():
    big, small = hog(150), hog(20)
    hits: list[str] = []

    async def main() -> None:
        dog = mg.RssWatchdog()
        g_big = mg.MemoryGuard(128, big.pid, lambda: hits.append("big"), watchdog=dog)
        g_small = mg.MemoryGuard(128, small.pid, lambda: hits.append("small"), watchdog=dog)
        loop = asyncio.get_running_loop()
        g_big.start(loop)
        g_small.start(loop)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if hits:
                break
        await asyncio.sleep(0.1)
        assert hits == ["big"] and g_big.tripped() and not g_small.tripped()
        assert g_big.peak_kb() > 128 * 1024 and 20 * 1024 <= g_small.peak_kb() < 128 * 1024
        g_small.begin()
        assert g_small.peak_kb() == 0  # a new window
        assert not g_small.tripped(100 * 1024) and g_small.tripped(129 * 1024)  # the runtime's own peak
        g_big.close()
        g_small.close()
        assert not dog.guards
        await dog.close()

    try:
        asyncio.run(main())
    finally:
        for p in (big, small):
            p.kill()
            p.wait()


class _FakeGroup:
    """The two calls the hot path makes on a cgroup, counted."""

    def __init__(self, peak: int) -> None:
        self.peak = peak
        self.windows = 0
        self.reads = 0
        self.env_id = "fake"
        self.dirs: dict[str, str] = {}

    def new_window(self) -> bool:
        self.windows += 1
        return True

    def window_peak_bytes(self) -> int:
        self.reads += 1
        return self.peak


def test_renewed_window_spares_the_next_begin_unless_it_is_old(monkeypatch):
    g = _FakeGroup(10 << 20)
    guard = mg.MemoryGuard(128, os.getpid(), lambda: None, group=g)
    guard.begin()
    assert g.windows == 1
    guard.renew()  # after an invocation: the next window opens now
    assert g.windows == 2
    guard.begin()  # right after: nothing to do
    assert g.windows == 2
    guard.begin()  # no renew since: opens its own window
    assert g.windows == 3
    guard.renew()
    clock = [mg.time.perf_counter() + mg.RENEW_MAX_AGE_S + 1]
    monkeypatch.setattr(mg.time, "perf_counter", lambda: clock[0])
    guard.begin()  # the renewed window is too old: opened again at the start
    assert g.windows == 5


class _CountingGuard(mg.MemoryGuard):
    """Counts the OOM-notification checks instead of reading an eventfd."""

    __slots__ = ()
    checks: list[int] = []

    def tripped(self, rss_kb: int = 0) -> bool:
        self.checks.append(rss_kb)
        return False


def test_end_reads_the_peak_once_and_the_oom_event_only_near_the_limit():
    g = _FakeGroup(10 << 20)
    guard = _CountingGuard(128, os.getpid(), lambda: None, group=g)
    guard._efd = -1  # as if registered for the group's OOM notification
    try:
        assert guard.end(5000) == (False, 10 * 1024)
        assert g.reads == 1 and guard.checks == []  # far below 128 MB: nothing can be pending
        g.peak = (128 << 20) - (1 << 20)
        assert guard.end(5000) == (False, 127 * 1024)
        assert g.reads == 2 and guard.checks == [5000]  # near the limit: the notification is checked
    finally:
        guard._efd = None
