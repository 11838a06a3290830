"""Per-environment cgroups (engine/cgroups.py): limits, peak memory, OOM, teardown.

Real cgroups, real processes. Tests skip with the probe's reason where the host has no
writable memory/pids controller."""

from __future__ import annotations

import errno
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from nubis.engine import cgroups as cg
from nubis.engine import confinement as cf
from nubis.engine.isolation import probe

from .test_confinement import Confined, run_confined

HOST = probe()
AV = HOST["available"]
needs_cgroups = pytest.mark.skipif(
    not AV.get("cgroups"), reason=f"host refuses environment cgroups: {HOST['details'].get('cgroups')}"
)
needs_pids = pytest.mark.skipif(not AV.get("cgroup_pids"), reason="no pids controller on this host")
MB = 1024 * 1024
# A fresh uid per environment, as the engine's UidPool hands them out round-robin: killed
# orphans linger as zombies of pid 1 for a while and still count for RLIMIT_NPROC.
_first = cf.UID_BASE + 32768 + (os.getpid() % 1600) * 20  # apart from test_confinement's uids
_uids = iter(range(_first, _first + 20))


def keep_only(*fds: int) -> None:
    """In a grandchild: close every inherited fd above 2 but ``fds`` (the test's result
    pipe must see EOF when the confined child exits, not when its orphans do)."""
    keep = sorted(fds)
    lo = 3
    for fd in keep + [1 << 20]:
        os.closerange(lo, fd)
        lo = fd + 1


@pytest.fixture(scope="module", autouse=True)
def _no_leftovers():
    yield
    # This run's scope (pid-<pytest pid>) and the nubis parent go once empty, so the
    # host is left as found; other servers' scopes are never touched.
    cg.cleanup_stale(remove_parent=True)
    assert not any(os.path.isdir(d) for d in cg.parent_dirs().values())


@pytest.fixture
def make_group():
    made: list[cg.EnvCgroup] = []

    def _make(memory_mb: int = 128, **kw) -> cg.EnvCgroup:
        g = cg.EnvCgroup.create(f"test-{uuid.uuid4().hex[:12]}", memory_mb, **kw)
        made.append(g)
        return g

    yield _make
    for g in made:
        dirs = list(g.dirs.values())
        assert g.destroy(), g.warnings
        assert not any(os.path.exists(d) for d in dirs)


def confined_cfg(g: cg.EnvCgroup, **kw) -> cf.ConfinementConfig:
    d = dict(uid=next(_uids), cgroup_procs=g.procs_files, tmp_mb=4, readonly_paths=cf.runtime_paths())
    d.update(kw)
    return cf.ConfinementConfig(**d)


# --------------------------------------------------------------------------- pure parts


def test_cpu_share_follows_memory():
    assert cg.cpu_shares(1769) == 1024
    assert cg.cpu_shares(128) == 74
    assert cg.cpu_shares(10240) == 5928
    assert cg.cpu_shares(1) == 2  # kernel minimum
    assert cg.cpu_weight(1769) == 100 and cg.cpu_weight(128) == 7
    assert cg.cpu_quota_us(1769) == 100_000 and cg.cpu_quota_us(10240) == 578_858
    assert cg.cpu_quota_us(8) == 1000  # the kernel's minimum quota


MOUNTINFO_HYBRID = """\
30 25 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 30 0:33 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
38 30 0:34 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
"""
CGROUP_HYBRID = """\
9:name=systemd:/system.slice/nubis.service
5:pids:/system.slice/nubis.service
4:memory:/system.slice/nubis.service
3:cpu,cpuacct:/system.slice/nubis.service
0::/system.slice/nubis.service
"""


def test_layout_of_a_hybrid_host_prefers_v1():
    lay = cg.parse_layout(MOUNTINFO_HYBRID, CGROUP_HYBRID, read=lambda p: "")
    assert {c: (h.version, h.mount, h.own) for c, h in lay.items()} == {
        "memory": (1, "/sys/fs/cgroup/memory", "/system.slice/nubis.service"),
        "pids": (1, "/sys/fs/cgroup/pids", "/system.slice/nubis.service"),
        "cpu": (1, "/sys/fs/cgroup/cpu,cpuacct", "/system.slice/nubis.service"),
    }


def test_layout_of_a_pure_v2_host():
    mi = "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    seen = []

    def read(path):
        seen.append(path)
        return "cpuset cpu io memory pids\n"

    lay = cg.parse_layout(mi, "0::/system.slice/nubis.service\n", read=read)
    assert seen == ["/sys/fs/cgroup/system.slice/nubis.service/cgroup.controllers"]
    assert {c: (h.version, h.own) for c, h in lay.items()} == {
        "memory": (2, "/system.slice/nubis.service"),
        "pids": (2, "/system.slice/nubis.service"),
        "cpu": (2, "/system.slice/nubis.service"),
    }
    # inside a cgroup namespace the mount root is the namespace's root
    mi_ns = "30 25 0:26 /system.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    lay = cg.parse_layout(mi_ns, "0::/system.slice/nubis.service\n", read=lambda p: "memory pids")
    assert lay["memory"].own == "/nubis.service" and "cpu" not in lay


# --------------------------------------------------------------------------- real cgroups


@needs_cgroups
def test_limits_are_written(make_group):
    g = make_group(256)
    assert not g.warnings
    mem = g.dirs["memory"]
    if g.versions["memory"] == 1:
        assert int(Path(mem, "memory.limit_in_bytes").read_text()) == 256 * MB
        if Path(mem, "memory.memsw.limit_in_bytes").exists():
            assert int(Path(mem, "memory.memsw.limit_in_bytes").read_text()) == 256 * MB
    else:
        assert int(Path(mem, "memory.max").read_text()) == 256 * MB
    if "pids" in g.dirs:
        assert Path(g.dirs["pids"], "pids.max").read_text().strip() == "1024"
    if "cpu" in g.dirs and g.versions["cpu"] == 1:
        assert int(Path(g.dirs["cpu"], "cpu.shares").read_text()) == cg.cpu_shares(256)
        assert int(Path(g.dirs["cpu"], "cpu.cfs_quota_us").read_text()) == -1  # no hard cap by default
    capped = make_group(128, cpu_hard_cap=True)
    if "cpu" in capped.dirs and capped.versions["cpu"] == 1:
        assert int(Path(capped.dirs["cpu"], "cpu.cfs_quota_us").read_text()) == cg.cpu_quota_us(128)


@needs_cgroups
def test_limits_of_a_group_made_ahead_follow_its_function(make_group):
    # A zygote's spare joins a group while it waits; the function's MemorySize comes later.
    g = make_group(128)
    mem = g.dirs["memory"]
    limit = "memory.limit_in_bytes" if g.versions["memory"] == 1 else "memory.max"
    for mb in (3008, 256, 128):
        assert g.set_memory(mb) and g.memory_mb == mb
        assert int(Path(mem, limit).read_text()) == mb * MB
        memsw = Path(mem, "memory.memsw.limit_in_bytes")
        if g.versions["memory"] == 1 and memsw.exists():
            assert int(memsw.read_text()) == mb * MB
        if "cpu" in g.dirs and g.versions["cpu"] == 1:
            assert int(Path(g.dirs["cpu"], "cpu.shares").read_text()) == cg.cpu_shares(mb)
    assert not g.warnings


@needs_cgroups
def test_add_moves_a_process_in(make_group):
    g = make_group()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(r, 1)
        os._exit(0)
    try:
        g.add(pid)
        assert g.pids() == [pid]
        text = Path(f"/proc/{pid}/cgroup").read_text()
        assert g.env_id in text
    finally:
        os.write(w, b"x")
        os.waitpid(pid, 0)
        os.close(r)
        os.close(w)
    assert g.pids() == []


@needs_cgroups
def test_peak_memory_is_read_and_reset(make_group):
    g = make_group(256)
    r_go, w_go = os.pipe()
    r_ready, w_ready = os.pipe()

    def hold():
        block = b"x" * (48 * MB)
        os.write(w_ready, b"1")
        os.read(r_go, 1)
        return len(block)

    c = Confined(confined_cfg(g), hold)
    os.read(r_ready, 1)
    assert g.pids()  # the child joined its cgroup itself
    assert g.peak_mb() >= 48
    assert g.usage_bytes() >= 48 * MB
    os.write(w_go, b"1")
    o = c.wait()
    assert o.result == 48 * MB and o.report["refused"] == []
    assert g.peak_mb() >= 48 and not g.oom_killed()
    assert g.reset_peak()
    assert g.peak_mb() < 48
    for fd in (r_go, w_go, r_ready, w_ready):
        os.close(fd)


@needs_cgroups
def test_oom_eventfd_fires_when_a_child_is_oom_killed(make_group):
    """cgroup v1 kills only the largest process; the eventfd says the environment hit its limit
    (memguard then ends all of it). The window peak resets without touching the OOM window."""
    g = make_group(64)
    if g.versions["memory"] != 1:
        pytest.skip("OOM notification by eventfd is cgroup v1")
    efd = g.oom_eventfd()
    assert efd is not None
    try:
        with pytest.raises(BlockingIOError):
            os.eventfd_read(efd)

        def parent_of_a_hog():
            pid = os.fork()
            if pid == 0:
                blocks = [b"x" * (8 * MB) for _ in range(64)]
                os._exit(len(blocks) & 1)
            _, st = os.waitpid(pid, 0)
            return os.WTERMSIG(st) if os.WIFSIGNALED(st) else -1

        o = Confined(confined_cfg(g), parent_of_a_hog).wait()
        assert o.result == signal.SIGKILL  # the child was killed, its parent carried on
        assert os.eventfd_read(efd) >= 1 and g.oom_killed()
        assert g.window_peak_bytes() >= 56 * MB
        assert g.new_window()
        assert g.window_peak_bytes() < 8 * MB and g.oom_killed()
    finally:
        os.close(efd)


@needs_cgroups
def test_allocation_past_the_limit_is_oom_killed(make_group):
    g = make_group(64)

    def hog():
        blocks = []
        for _ in range(64):  # up to 512 MB in 8 MB steps
            blocks.append(b"x" * (8 * MB))
        return len(blocks)

    o = Confined(confined_cfg(g), hog).wait()
    assert os.WIFSIGNALED(o.status) and os.WTERMSIG(o.status) == signal.SIGKILL, o
    assert g.oom_killed() and g.oom_killed(o.status)
    assert g.oom_kill_count() >= 1
    assert 56 <= g.peak_mb() <= 64
    g.reset_peak()  # a new invocation window: no OOM in it yet
    assert not g.oom_killed()


@needs_cgroups
@needs_pids
def test_fork_bomb_stops_at_pids_max_and_the_parent_survives(make_group):
    g = make_group(256, pids_max=40)

    def bomb():
        r, _w = os.pipe()
        n = 0
        while n < 500:
            try:
                pid = os.fork()
            except OSError as e:
                return {"forked": n, "errno": e.errno}
            if pid == 0:
                keep_only(r, _w)
                os.read(r, 1)  # park until killed
                os._exit(0)
            n += 1
        return {"forked": n, "errno": 0}

    # RLIMIT_NPROC out of the way, so the cgroup is what stops it
    o = run_confined(confined_cfg(g, nproc=100000), bomb)
    assert o.result == {"forked": 39, "errno": errno.EAGAIN}  # 40 = the child + 39
    assert o.exit_code == 0  # the bomb's parent survived and reported
    assert len(g.pids()) == 39  # orphans still parked in the cgroup
    assert g.kill_all() >= 39
    assert g.pids() == []
    os.kill(os.getpid(), 0)  # and so did the server


@needs_cgroups
def test_rlimit_nproc_counts_per_environment_uid(make_group):
    g = make_group(256)

    def spawn():
        r, _w = os.pipe()
        for n in range(100):
            try:
                if os.fork() == 0:
                    keep_only(r, _w)
                    os.read(r, 1)
                    os._exit(0)
            except OSError as e:
                return {"forked": n, "errno": e.errno}
        return {"forked": 100, "errno": 0}

    o = run_confined(confined_cfg(g, nproc=10), spawn)
    assert o.result == {"forked": 9, "errno": errno.EAGAIN}
    g.kill_all()


@needs_cgroups
def test_destroy_kills_everything_and_leaves_no_directory(make_group):
    g = cg.EnvCgroup.create(f"test-{uuid.uuid4().hex[:12]}", 128)
    dirs = list(g.dirs.values())

    def park():
        for _ in range(5):
            if os.fork() == 0:
                keep_only()
                time.sleep(60)
                os._exit(0)
        return os.getpid()

    o = run_confined(confined_cfg(g), park)
    assert len(g.pids()) == 5
    victims = g.pids()
    t = time.perf_counter()
    assert g.destroy(), g.warnings
    took = time.perf_counter() - t
    assert not any(os.path.exists(d) for d in dirs)
    assert g.dirs == {} and g.destroy()  # idempotent
    for pid in victims:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    assert took < 1.0


@needs_cgroups
def test_stale_groups_are_cleaned_up(make_group):
    g = cg.EnvCgroup.create(f"stale-{uuid.uuid4().hex[:12]}", 128)
    dirs = list(g.dirs.values())
    removed = cg.cleanup_stale()
    assert set(dirs) <= set(removed)
    assert not any(os.path.exists(d) for d in dirs)
    # creating over a stale group reuses and resets it
    g2 = make_group(128)
    again = cg.EnvCgroup.create(g2.env_id, 192)
    assert again.dirs == g2.dirs
    if again.versions["memory"] == 1:
        assert int(Path(again.dirs["memory"], "memory.limit_in_bytes").read_text()) == 192 * MB


@needs_cgroups
def test_scopes_keep_servers_apart(make_group):
    mine = make_group(128)  # default scope: pid-<this process>
    other = cg.EnvCgroup.create("env-1", 128, scope="test-other-server")
    dead_pid = _dead_pid()
    crashed = cg.EnvCgroup.create("env-1", 128, scope=f"pid-{dead_pid}")
    assert all(f"/nubis/pid-{os.getpid()}/" in d for d in mine.dirs.values())
    # cleanup_stale(scope) only ever touches that scope
    removed = cg.cleanup_stale(scope="test-other-server", remove_parent=True)
    assert set(other.dirs.values()) <= set(removed)
    assert all(os.path.isdir(d) for d in mine.dirs.values())
    assert all(os.path.isdir(d) for d in crashed.dirs.values())
    # cleanup_dead removes the scopes of processes that are gone (once they are a few
    # seconds old: never one being created), and only those
    try:
        assert not set(crashed.dirs.values()) & set(cg.cleanup_dead())
        removed = cg.cleanup_dead(min_age_s=0)
        assert set(crashed.dirs.values()) <= set(removed)
        assert all(os.path.isdir(d) for d in mine.dirs.values())
    finally:
        crashed.destroy(remove_parent_if_empty=True)
    assert cg.scope_for("/var/lib/nubis") == cg.scope_for("/var/lib/nubis/") != cg.scope_for("/srv/nubis")


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_bad_environment_ids_are_refused():
    for bad in ("", "a/b", "..", "."):
        with pytest.raises(ValueError):
            cg.EnvCgroup.create(bad, 128)
    with pytest.raises(ValueError):
        cg.EnvCgroup.create("ok", 128, scope="a/b")
