"""Confinement of a forked execution-environment process (engine/confinement.py).

Each test forks a real child, confines it with ``confine()`` and checks from the inside
what it can and cannot do. Tests that need something the host refuses skip and say why
(the reason comes from ``isolation.probe()``, which tried it for real)."""

from __future__ import annotations

import errno
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from nubis.engine import confinement as cf
from nubis.engine.isolation import probe

HOST = probe()
AV = HOST["available"]
DETAILS = HOST["details"]


def need(*features: str):
    """Skip unless the probe found every feature available on this host."""
    missing = [f for f in features if not AV.get(f)]
    reason = "; ".join(f"{f}: {DETAILS.get(f, 'not available')}" for f in missing)
    return pytest.mark.skipif(bool(missing), reason=f"host refuses {', '.join(missing)} ({reason})")


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="confinement needs root (uid change, mounts)")
# Per-run uids, as the engine's pool gives each environment its own: two test runs at once
# must not share one (processes of the same uid see and may signal each other).
UID_A = cf.UID_BASE + 2 * (os.getpid() % 16384)
UID_B = UID_A + 1


# --------------------------------------------------------------------------- harness


@dataclass
class Outcome:
    report: dict | None
    result: Any
    error: str | None
    status: int | None

    @property
    def exit_code(self) -> int | None:
        return os.waitstatus_to_exitcode(self.status) if self.status is not None else None


class Confined:
    """A forked child that confines itself with ``cfg`` and runs ``fn``; its JSON
    result comes back on a pipe."""

    def __init__(self, cfg: cf.ConfinementConfig | None, fn: Callable[[], Any], exit_code: int = 0,
                 confine: Callable[[cf.ConfinementConfig], cf.Report] = cf.confine) -> None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(r)
                out: dict = {}
                if cfg is not None:
                    out["report"] = confine(cfg).to_dict()
                try:
                    out["result"] = fn()
                except BaseException as e:  # noqa: BLE001 - reported to the test
                    out["error"] = f"{type(e).__name__}: {e}"
                data = json.dumps(out).encode()
                while data:
                    data = data[os.write(w, data):]
            finally:
                os._exit(exit_code)
        os.close(w)
        self.pid = pid
        self._r = r

    def wait(self, timeout: float = 30.0) -> Outcome:
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(self.pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._r, 65536)
            if not chunk:
                break
            data += chunk
        os.close(self._r)
        _, status = os.waitpid(self.pid, 0)
        out = json.loads(data) if data else {}
        return Outcome(out.get("report"), out.get("result"), out.get("error"), status)


def run_confined(cfg: cf.ConfinementConfig | None, fn: Callable[[], Any], timeout: float = 30.0,
                 confine: Callable[[cf.ConfinementConfig], cf.Report] = cf.confine) -> Outcome:
    o = Confined(cfg, fn, confine=confine).wait(timeout)
    assert o.error is None, o.error
    return o


def err_of(call: Callable[[], Any]) -> int:
    """0 if ``call()`` succeeds, else its errno."""
    try:
        call()
        return 0
    except OSError as e:
        return e.errno


def refused(o: Outcome) -> list:
    return o.report["refused"] if o.report else []


@pytest.fixture
def fs():
    """A tree outside /tmp (the child gets its own /tmp): a 0700 secret dir, a data dir
    with a code dir inside, and a file in the host's /tmp."""
    base = Path(tempfile.mkdtemp(prefix="nubis-confine-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    base.chmod(0o755)
    secret = base / "secret"
    secret.mkdir(mode=0o700)
    (secret / "key").write_text("s3cret")
    data = base / "data"
    data.mkdir(mode=0o755)
    (data / "server.db").write_text("state")
    code = data / "code" / "fn"
    code.mkdir(parents=True)
    (data / "code").chmod(0o755)
    code.chmod(0o755)
    (code / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (code / "app.py").chmod(0o644)
    host_tmp = Path(tempfile.mkstemp(prefix="nubis-host-tmp-")[1])
    yield {"base": str(base), "secret": str(secret), "data": str(data), "code": str(code), "host_tmp": str(host_tmp)}
    shutil.rmtree(base, ignore_errors=True)
    host_tmp.unlink(missing_ok=True)


def env_cfg(fs, uid=UID_A, **kw) -> cf.ConfinementConfig:
    d = dict(uid=uid, code_dir=fs["code"], hide=(fs["data"],), tmp_mb=8, readonly_paths=cf.runtime_paths())
    d.update(kw)
    return cf.ConfinementConfig(**d)


# --------------------------------------------------------------------------- pure parts


def _run_bpf(prog, arch: int, nr: int, arg0: int = 0) -> int:
    """A tiny classic-BPF interpreter for the instructions build_filter emits."""
    data = {0: nr, 4: arch, 16: arg0 & 0xFFFFFFFF}
    a, pc = 0, 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == 0x20:
            a = data[k]
        elif code == 0x06:
            return k
        elif code in (0x15, 0x35, 0x45):
            cond = {0x15: a == k, 0x35: a >= k, 0x45: bool(a & k)}[code]
            pc += jt if cond else jf
        else:  # pragma: no cover
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


@pytest.mark.parametrize("arch,audit", [("x86_64", cf.AUDIT_ARCH_X86_64), ("aarch64", cf.AUDIT_ARCH_AARCH64)])
def test_seccomp_filter_decisions(arch, audit):
    prog = cf.build_filter(arch=arch)
    eperm = cf.SECCOMP_RET_ERRNO | errno.EPERM
    enosys = cf.SECCOMP_RET_ERRNO | errno.ENOSYS
    nr = lambda name: cf.syscall_nr(name, arch)  # noqa: E731
    for name in ("mount", "umount2", "ptrace", "kexec_load", "init_module", "finit_module", "delete_module",
                 "reboot", "swapon", "swapoff", "pivot_root", "setns", "unshare", "bpf", "perf_event_open",
                 "keyctl", "add_key", "request_key", "open_by_handle_at", "settimeofday", "clock_settime",
                 "acct", "quotactl"):
        assert _run_bpf(prog, audit, nr(name)) == eperm, name
    assert _run_bpf(prog, audit, nr("clone3")) == enosys
    assert _run_bpf(prog, audit, nr("io_uring_setup")) == enosys
    # everyday calls pass: read(63/0), write, openat, the seccomp call itself
    for everyday in ({"x86_64": 0, "aarch64": 63}[arch], {"x86_64": 257, "aarch64": 56}[arch], nr("seccomp")):
        assert _run_bpf(prog, audit, everyday) == cf.SECCOMP_RET_ALLOW
    # clone: fork/thread flags pass, any namespace flag is refused
    assert _run_bpf(prog, audit, nr("clone"), 0x11 | 0x01000000 | 0x00200000) == cf.SECCOMP_RET_ALLOW
    assert _run_bpf(prog, audit, nr("clone"), 0x003D0F00) == cf.SECCOMP_RET_ALLOW  # pthread_create's flags
    for flag in (cf.CLONE_NEWUSER, cf.CLONE_NEWNS, cf.CLONE_NEWPID, cf.CLONE_NEWNET):
        assert _run_bpf(prog, audit, nr("clone"), flag | 0x11) == eperm
    # another architecture's entry point (i386 int 0x80, arm32) kills
    assert _run_bpf(prog, 0x40000003, 1) == cf.SECCOMP_RET_KILL_PROCESS
    if arch == "x86_64":
        assert _run_bpf(prog, audit, 0x40000000 | 165) == eperm  # x32 ABI mount
    # every jump lands inside the program
    for i, (code, jt, jf, _k) in enumerate(prog):
        if code & 0x07 == 0x05:
            assert i + 1 + jt < len(prog) and i + 1 + jf < len(prog)


def test_config_round_trips_as_plain_data():
    cfg = cf.ConfinementConfig(uid=100001, cgroup_procs=("/x/cgroup.procs",), hide=("/data",), tmp_mb=1024)
    again = cf.ConfinementConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_uid_pool_hands_out_distinct_uids_and_reuses_released_ones():
    pool = cf.UidPool(base=500000, count=3)
    a, b, c = pool.acquire(), pool.acquire(), pool.acquire()
    assert len({a, b, c}) == 3 and all(500000 <= u < 500003 for u in (a, b, c))
    with pytest.raises(RuntimeError):
        pool.acquire()
    pool.release(b)
    assert pool.acquire() == b


def test_environment_config_hides_the_data_dir_and_keeps_the_runtime_readable():
    cfg = cf.environment_config(uid=100007, code_dir="/d/code/x", data_dir="/d", ephemeral_mb=2048,
                                runtime_dirs=("/opt/nubis/runtimes/python",))
    assert cfg.hide[0] == "/d" and cfg.tmp_mb == 2048 and cfg.uid == 100007
    assert "net" not in cfg.namespaces  # functions must reach the server over loopback
    assert os.path.realpath(sys.base_prefix) in cfg.readonly_paths or any(
        os.path.realpath(sys.base_prefix).startswith(p + "/") for p in cfg.readonly_paths)


# --------------------------------------------------------------------------- confined children


@root_only
@need("setuid", "mount_namespaces")
def test_cannot_read_a_root_only_directory(fs):
    o = run_confined(env_cfg(fs), lambda: {
        "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "list": err_of(lambda: os.listdir(fs["secret"])),
        "read": err_of(lambda: open(fs["secret"] + "/key").read()),
    })
    assert refused(o) == []
    assert o.result == {"uid": UID_A, "gid": UID_A, "groups": [], "list": errno.EACCES, "read": errno.EACCES}


@root_only
@need("private_tmp")
def test_private_tmp_per_environment(fs):
    r_ready, w_ready = os.pipe()
    r_go, w_go = os.pipe()

    def a():
        Path("/tmp/from-a").write_text("a")
        os.write(w_ready, b"1")
        os.read(r_go, 1)
        return sorted(os.listdir("/tmp"))

    def b():
        full = err_of(lambda: Path("/tmp/big").write_bytes(b"x" * (9 * 1024 * 1024)))  # tmp_mb=8
        os.unlink("/tmp/big")
        return {"tmp": sorted(os.listdir("/tmp")), "full": full,
                "host_file": os.path.exists(fs["host_tmp"])}

    child_a = Confined(env_cfg(fs, uid=UID_A), a)
    try:
        assert select.select([r_ready], [], [], 20)[0], "child A did not start"
        ob = run_confined(env_cfg(fs, uid=UID_B), b)
    finally:
        os.write(w_go, b"1")
        oa = child_a.wait()
        for fd in (r_ready, w_ready, r_go, w_go):
            os.close(fd)
    # A checkout or venv that itself lives under /tmp is bound back in read-only (the runtime needs it).
    bound = sorted({Path(p).relative_to("/tmp").parts[0] for p in cf.runtime_paths()
                    if p.startswith("/tmp/") and len(Path(p).parts) > 2})
    assert oa.error is None and oa.result == sorted(["from-a", *bound])
    assert ob.result == {"tmp": bound, "full": errno.ENOSPC, "host_file": False}
    assert not Path("/tmp/from-a").exists()  # nothing reached the host's /tmp


@root_only
@need("read_only_code", "hidden_paths")
def test_code_dir_read_only_and_data_dir_hidden(fs):
    def check():
        return {
            "code": Path(fs["code"], "app.py").read_text().startswith("def handler"),
            "write_code": err_of(lambda: Path(fs["code"], "new.py").write_text("x")),
            "modify_code": err_of(lambda: open(fs["code"] + "/app.py", "a")),
            "data": sorted(os.listdir(fs["data"])),  # only the mountpoint leading to the code
            "db": os.path.exists(fs["data"] + "/server.db"),
            "write_data": err_of(lambda: Path(fs["data"], "x").write_text("x")),
            "cwd": os.getcwd(),
        }

    o = run_confined(env_cfg(fs), check)
    assert refused(o) == []
    assert o.result.pop("modify_code") in (errno.EACCES, errno.EROFS)  # the file's mode answers first
    assert o.result == {"code": True, "write_code": errno.EROFS, "data": ["code"],
                        "db": False, "write_data": errno.EROFS, "cwd": fs["code"]}
    # Read-only holds for root too: it is the mount, not only the uid.
    o = run_confined(env_cfg(fs, uid=None, seccomp=False), lambda: [
        err_of(lambda: Path(fs["code"], "n").write_text("x")), err_of(lambda: open(fs["code"] + "/app.py", "a"))])
    assert o.result == [errno.EROFS, errno.EROFS]


@root_only
@need("read_only_code")
def test_code_also_at_task_root_alias(fs):
    alias = Path(fs["base"], "task")
    alias.mkdir(mode=0o755)
    o = run_confined(env_cfg(fs, task_root_alias=str(alias)), lambda: {
        "files": os.listdir(str(alias)), "cwd": os.getcwd(),
        "write": err_of(lambda: (alias / "x").write_text("x"))})
    assert o.result == {"files": ["app.py"], "cwd": str(alias), "write": errno.EROFS}
    missing = run_confined(env_cfg(fs, task_root_alias=fs["base"] + "/nope"), lambda: None)
    assert any("mountpoint missing" in why for _, why in refused(missing))  # reported, not raised


@root_only
@need("setuid", "mount_namespaces")
def test_a_path_under_a_closed_directory_can_be_exposed_alone(fs):
    # /var/tmp/x/secret is 0700: expose one file in it (a file bind), not its siblings,
    # and do so under a restrictive umask (the mountpoints created must stay traversable).
    pub = Path(fs["secret"], "pub.txt")
    pub.write_text("public")
    pub.chmod(0o644)
    old = os.umask(0o077)
    try:
        o = run_confined(env_cfg(fs, readonly_paths=cf.runtime_paths() + (str(pub),)), lambda: {
            "pub": Path(str(pub)).read_text(),
            "listing": sorted(os.listdir(fs["secret"])),
            "key": os.path.exists(fs["secret"] + "/key"),
            "write": err_of(lambda: open(str(pub), "a")),
        })
    finally:
        os.umask(old)
    assert refused(o) == []
    assert o.result.pop("write") in (errno.EACCES, errno.EROFS)
    assert o.result == {"pub": "public", "listing": ["pub.txt"], "key": False}


@root_only
@need("setuid")
def test_cannot_signal_a_process_of_another_uid(fs):
    me = os.getpid()
    other = Confined(env_cfg(fs, uid=UID_B), lambda: os.read(os.open("/proc/self/fd/0", os.O_RDONLY), 1))
    try:
        o = run_confined(env_cfg(fs, uid=UID_A, hidepid=False), lambda: {
            "server": err_of(lambda: os.kill(me, 0)),
            "other_env": err_of(lambda: os.kill(other.pid, signal.SIGKILL)),
            "init": err_of(lambda: os.kill(1, signal.SIGTERM)),
        })
    finally:
        os.kill(other.pid, signal.SIGKILL)
        other.wait()
    assert o.result == {"server": errno.EPERM, "other_env": errno.EPERM, "init": errno.EPERM}


@root_only
@need("hidepid")
def test_other_processes_are_invisible(fs):
    me = os.getpid()
    o = run_confined(env_cfg(fs), lambda: {
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "self": os.getpid(), "server_visible": os.path.exists(f"/proc/{me}"),
        "own_fds": len(os.listdir("/proc/self/fd")) > 0,  # dumpable restored: /proc/self is ours
    })
    assert o.result["pids"] == [o.result["self"]]
    assert o.result["server_visible"] is False and o.result["own_fds"] is True


@root_only
@need("seccomp")
def test_seccomp_denies_mount_and_namespaces_even_to_root(fs):
    libc = cf._libc
    clone = cf.syscall_nr("clone")

    def check():
        out = {
            "mount": err_of(lambda: cf.mount("tmpfs", "/mnt", "tmpfs", 0, None)),
            "umount": err_of(lambda: cf._check(libc.umount2(b"/proc", 0))),
            "unshare": err_of(lambda: cf.unshare(cf.CLONE_NEWNS)),
            "ptrace": err_of(lambda: cf._check(libc.ptrace(0, 0, None, None))),
        }
        rc = libc.syscall(clone, cf.CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)
        if rc == 0:
            os._exit(0)
        out["clone_newuser"] = ctypes_errno() if rc < 0 else 0
        # what a function does need still works
        pid = os.fork()
        if pid == 0:
            os._exit(3)
        out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        import subprocess
        import threading
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        out["thread"] = True
        out["exec"] = subprocess.run([sys.executable, "-c", "print(6*7)"], capture_output=True, text=True).stdout.strip()
        return out

    # uid=None: the child stays root, so only seccomp stands between it and mount()
    o = run_confined(env_cfg(fs, uid=None), check)
    assert refused(o) == []
    assert o.result == {"mount": errno.EPERM, "umount": errno.EPERM, "unshare": errno.EPERM,
                        "ptrace": errno.EPERM, "clone_newuser": errno.EPERM, "fork": 3, "thread": True,
                        "exec": "42"}


@root_only
@need("seccomp", "mount_namespaces")
def test_split_seccomp_filter_denies_what_the_whole_one_does(fs):
    # A spare loads the filter without mount/unshare while it waits (complete() still mounts the
    # code dir and enters the cgroup namespace); complete() stacks the rest. uid=None: the child
    # stays root, so only seccomp stands between it and mount() / unshare().
    libc = cf._libc

    def check():
        return {
            "mount": err_of(lambda: cf.mount("tmpfs", "/mnt", "tmpfs", 0, None)),
            "umount": err_of(lambda: cf._check(libc.umount2(b"/proc", 0))),
            "unshare": err_of(lambda: cf.unshare(cf.CLONE_NEWNS)),
            "setns": err_of(lambda: cf._check(libc.syscall(cf.syscall_nr("setns"), 0, 0))),
            "ptrace": err_of(lambda: cf._check(libc.ptrace(0, 0, None, None))),
            "read": len(os.listdir(fs["code"])),
        }

    spare = cf.ConfinementConfig(hide=(fs["data"],), readonly_paths=cf.runtime_paths())
    o = run_confined(env_cfg(fs, uid=None), check, confine=_split(spare))
    assert refused(o) == []
    assert any(a.startswith("seccomp") for a in o.report["applied"])
    assert o.result == {"mount": errno.EPERM, "umount": errno.EPERM, "unshare": errno.EPERM,
                        "setns": errno.EPERM, "ptrace": errno.EPERM, "read": 1}


def ctypes_errno() -> int:
    import ctypes

    return ctypes.get_errno()


@root_only
@need("setuid", "mount_namespaces")
def test_runtime_stays_importable_after_the_uid_change(fs):
    # A stdlib module nobody imported yet must load from the interpreter's prefix, which
    # may sit under a 0700 home (/root/.pyenv here): confinement covers and re-exposes it.
    candidates = ["tabnanny", "colorsys", "wave", "sndhdr", "netrc", "shlex"]
    mod = next(m for m in candidates if m not in sys.modules)

    def check():
        __import__(mod)
        import subprocess
        r = subprocess.run([sys.executable, "-c", "import json; print(json.dumps(1))"], capture_output=True, text=True)
        return {"import": mod, "exec": r.stdout.strip(), "stderr": r.stderr[-300:]}

    o = run_confined(env_cfg(fs), check)
    assert refused(o) == []
    assert o.result == {"import": mod, "exec": "1", "stderr": ""}


@root_only
def test_rlimits_applied(fs):
    import resource

    o = run_confined(env_cfg(fs, nofile=256, nproc=77), lambda: [
        list(resource.getrlimit(resource.RLIMIT_NOFILE)), list(resource.getrlimit(resource.RLIMIT_NPROC)),
        list(resource.getrlimit(resource.RLIMIT_CORE))])
    assert o.result == [[256, 256], [77, 77], [0, 0]]
    o = run_confined(env_cfg(fs), lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    assert o.result == 1024


@root_only
@need("pid_namespaces")
def test_pid_namespace_double_fork_mirrors_the_exit(fs):
    o = run_confined(env_cfg(fs, pid_namespace=True), lambda: {
        "pid": os.getpid(), "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())})
    assert refused(o) == []
    assert o.result == {"pid": 1, "procs": [1]}
    assert o.exit_code == 0
    # the intermediate process (the pid the launcher sees) exits as the namespace's init did
    o = Confined(env_cfg(fs, pid_namespace=True), lambda: None, exit_code=7).wait()
    assert o.exit_code == 7
    # pid 1 cannot even SIGKILL itself from inside; from outside it dies, and the
    # intermediate mirrors the signal.
    c = Confined(env_cfg(fs, pid_namespace=True), lambda: time.sleep(30))
    children = f"/proc/{c.pid}/task/{c.pid}/children"
    deadline = time.monotonic() + 10
    while not Path(children).read_text().split() and time.monotonic() < deadline:
        time.sleep(0.005)
    (inner,) = [int(p) for p in Path(children).read_text().split()]
    os.kill(inner, signal.SIGKILL)
    o = c.wait()
    assert os.WIFSIGNALED(o.status) and os.WTERMSIG(o.status) == signal.SIGKILL


@root_only
def test_network_is_shared_by_default_and_isolated_on_request(fs):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]

    def connect():
        s = socket.socket()
        s.settimeout(5)
        try:
            return err_of(lambda: s.connect(("127.0.0.1", port)))
        finally:
            s.close()

    def isolated():
        inner = socket.socket()
        inner.bind(("127.0.0.1", 0))
        inner.listen(1)
        return {"server": connect(), "own_loopback": err_of(lambda: socket.create_connection(inner.getsockname(), 5))}

    try:
        assert run_confined(env_cfg(fs), connect).result == 0
        if not AV.get("net_namespaces"):
            pytest.skip(f"host refuses net namespaces: {DETAILS.get('net_namespaces')}")
        o = run_confined(env_cfg(fs, namespaces=("mount", "ipc", "uts", "cgroup", "net")), isolated)
        assert o.result == {"server": errno.ECONNREFUSED, "own_loopback": 0}
    finally:
        srv.close()


@root_only
def test_refusals_are_reported_not_raised(fs):
    # A child that already gave up root: every privileged step is refused, none raises.
    def drop_then_confine():
        os.setgroups([])
        os.setresgid(UID_A, UID_A, UID_A)
        os.setresuid(UID_A, UID_A, UID_A)
        rep = cf.confine(env_cfg(fs, uid=UID_B))
        return rep.to_dict()

    o = run_confined(None, drop_then_confine)
    steps = {step for step, _ in o.result["refused"]}
    assert {"mount namespace", f"uid {UID_B}"} <= steps
    assert "no_new_privs" in o.result["applied"]  # unprivileged steps still applied
    assert any(a.startswith("seccomp") for a in o.result["applied"])
    warning = cf.Report(refused=[tuple(x) for x in o.result["refused"]]).warning()
    assert warning and "mount namespace" in warning


# --------------------------------------------------------------------------- split (zygote spares)


def _split(spare: cf.ConfinementConfig):
    """confine() as a zygote's spare does it: prepare() before the function is known, complete() after."""

    def confine(job: cf.ConfinementConfig) -> cf.Report:
        prep = cf.prepare(spare, split=True, for_uid=cf.UID_BASE)
        time.sleep(0.01)  # the spare waits for its function
        return cf.complete(prep, job)

    return confine


@root_only
@need("setuid", "mount_namespaces", "read_only_code", "hidden_paths", "seccomp")
def test_split_confinement_binds_the_code_and_layers_it_learns_late(fs):
    layer = Path(fs["data"], "opt", "merged")  # inside the hidden data dir, as the server merges layers
    (layer / "python").mkdir(parents=True)
    for d in (layer.parent, layer, layer / "python"):
        d.chmod(0o755)
    (layer / "python" / "greeting.py").write_text("X = 1\n")
    (layer / "python" / "greeting.py").chmod(0o644)
    opt = "/opt" if os.path.isdir("/opt") else None
    hide = (fs["data"],) + ((opt,) if opt else ())
    spare = cf.ConfinementConfig(hide=hide, readonly_paths=cf.runtime_paths(), tmp_mb=512)
    job = env_cfg(fs, hide=hide, tmp_mb=16, binds=[(str(layer), opt or str(layer))])

    def check():
        return {
            "uid": os.getuid(), "cwd": os.getcwd(),
            "code": sorted(os.listdir(fs["code"])),
            "write_code": err_of(lambda: Path(fs["code"], "n.py").write_text("x")),
            "data": sorted(os.listdir(fs["data"])),
            "opt": sorted(os.listdir((opt or str(layer)) + "/python")),
            "tmp_mb": os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize // 2**20,
            "mount": err_of(lambda: cf.mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m")),
        }

    o = run_confined(job, check, confine=_split(spare))
    assert refused(o) == []
    assert o.result["uid"] == UID_A and o.result["cwd"] == fs["code"]
    assert o.result["code"] == ["app.py"] and o.result["write_code"] == errno.EROFS
    assert o.result["opt"] == ["greeting.py"]
    assert "server.db" not in o.result["data"]
    assert o.result["tmp_mb"] == 16 and o.result["mount"] == errno.EPERM


@root_only
@need("setuid", "mount_namespaces", "hidden_paths")
def test_shared_dirs_are_writable_and_keep_hidden_dirs_hidden(fs):
    # The server's data dir may live inside a shared dir (a test session's temp dir): it stays hidden.
    shared = Path(fs["base"])
    shared.chmod(0o755)
    out = shared / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o1777)

    def check():
        Path(out, "written").write_text("hi")
        return {"data": sorted(os.listdir(fs["data"])), "secret": err_of(lambda: os.listdir(fs["secret"])),
                "code": sorted(os.listdir(fs["code"]))}

    for confine in (cf.confine, _split(cf.ConfinementConfig(hide=(fs["data"],), shared=(str(shared),),
                                                            readonly_paths=cf.runtime_paths()))):
        o = run_confined(env_cfg(fs, shared=(str(shared),)), check, confine=confine)
        assert refused(o) == []
        assert o.result == {"data": ["code"], "secret": errno.EACCES, "code": ["app.py"]}
        assert (out / "written").read_text() == "hi"
        (out / "written").unlink()
