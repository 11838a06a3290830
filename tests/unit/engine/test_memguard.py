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
