"""Probe what isolation this host allows, so the server can say so instead of assuming.

:func:`probe` really tries it, once per process (cached): it creates a throwaway
environment cgroup and forks a throwaway child that confines itself exactly as an
execution environment would (``confinement.confine``: cgroup join, mount/ipc/uts/cgroup/
net/pid namespaces, private /tmp, hidden and read-only paths, a fresh /proc, rlimits,
uid change, no_new_privs, seccomp) and then checks from the inside that each step
took effect. Nothing outside the child's own namespaces is changed, and the probe
cgroup is removed again.

The returned dict keeps its shape: ``enforced`` (what the launcher actually applies),
``available`` (name -> bool, plus where the cgroup controllers are), ``warning`` (one
line for the operator, "" when there is nothing to say) and ``details`` (name -> what
happened, e.g. the errno the host answered).
"""
from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path

ENFORCED = ["process", "process-group", "timeout-kill"]
_extra_enforced: list[str] = []
_lock = threading.Lock()
_cached: tuple[dict, dict] | None = None

PROBE_TIMEOUT_S = 5.0

# Feature names, as used in ``enforced`` once the launcher applies them.
FEATURES = ("uid", "namespaces", "private-tmp", "hidden-paths", "read-only-code", "hidepid", "rlimits",
            "no-new-privs", "seccomp", "cgroup-memory", "cgroup-pids", "cgroup-cpu")


_declared: list[bool] = []  # set_enforced() was called
_off_reason: list[str] = []


def set_enforced(names: list[str], reason: str | None = None) -> None:
    """The engine declares what it applies to every environment; ``probe()["enforced"]``
    and the warning follow. ``reason``: why nothing is applied (isolation turned off)."""
    global _extra_enforced
    _extra_enforced = [n for n in names if n not in ENFORCED]
    _declared[:] = [True]
    _off_reason[:] = [reason] if reason else []


def _writable(path: str) -> bool:
    p = Path(path)
    return p.is_dir() and os.access(p, os.W_OK)


def _landlock_abi() -> int:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        v = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
        return int(v) if v > 0 else 0
    except Exception:  # pragma: no cover
        return 0


def _child_checks(cfg, result_fd: int) -> None:  # pragma: no cover - runs in the forked child
    """Confine, verify from inside, write JSON to result_fd, exit."""
    from . import confinement as cf

    out: dict = {}
    try:
        # User namespaces are not part of confinement: test them in a sub-child first.
        pid = os.fork()
        if pid == 0:
            try:
                cf.unshare(cf.CLONE_NEWUSER)
                os._exit(0)
            except OSError as e:
                os._exit(min(e.errno, 255) or 1)
        _, st = os.waitpid(pid, 0)
        out["user_namespaces"] = os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
        out["user_namespaces_errno"] = os.WEXITSTATUS(st) if os.WIFEXITED(st) else -1

        rep = cf.confine(cfg)
        out["report"] = rep.to_dict()
        out["pid"] = os.getpid()
        out["uid"] = os.getuid()
        try:
            out["hostname"] = os.uname().nodename
        except OSError:
            out["hostname"] = None
        mounts = {}
        try:
            for line in open("/proc/self/mountinfo"):
                left, _, right = line.partition(" - ")
                mounts[left.split()[4]] = right.split()[0]
        except OSError:
            pass
        out["tmp_fstype"] = mounts.get("/tmp")
        out["proc_pids"] = sorted(int(x) for x in os.listdir("/proc") if x.isdigit())[:5]
        try:
            out["cgroup_self"] = open("/proc/self/cgroup").read()
        except OSError:
            out["cgroup_self"] = ""
        try:
            cf.mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m")
            out["mount_after"] = 0
        except OSError as e:
            out["mount_after"] = e.errno
        try:
            cf.unshare(cf.CLONE_NEWNS)
            out["unshare_after"] = 0
        except OSError as e:
            out["unshare_after"] = e.errno
        try:
            out["no_new_privs"] = cf.prctl(cf.PR_GET_NO_NEW_PRIVS) == 1
        except OSError:
            out["no_new_privs"] = False
        if cfg.code_dir:
            try:
                fd = os.open(os.path.join(cfg.code_dir, ".nubis-probe"), os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
                out["code_write"] = 0
            except OSError as e:
                out["code_write"] = e.errno
        out["hidden_empty"] = {h: (os.listdir(h) == []) for h in cfg.hide if os.path.isdir(h)}
    except BaseException as e:  # report whatever went wrong
        out["error"] = repr(e)
    try:
        data = json.dumps(out).encode()
        while data:
            n = os.write(result_fd, data)
            data = data[n:]
    finally:
        os._exit(0)


def _run_probe() -> tuple[dict, dict]:
    from . import cgroups as cg
    from . import confinement as cf

    available: dict = {}
    details: dict = {}
    is_linux = sys.platform.startswith("linux")
    available["root"] = os.geteuid() == 0
    available["cgroup_v1_memory"] = _writable("/sys/fs/cgroup/memory")
    available["cgroup_v1_pids"] = _writable("/sys/fs/cgroup/pids")
    available["cgroup_v2"] = Path("/sys/fs/cgroup/cgroup.controllers").exists() or Path(
        "/sys/fs/cgroup/unified/cgroup.controllers"
    ).exists()
    available["landlock_abi"] = _landlock_abi() if is_linux else 0
    if not is_linux:
        details["host"] = f"not Linux ({sys.platform}): no confinement"
        return available, details

    # cgroups: where each controller lives, then a real group with limits.
    lay = cg.layout()
    for c in cg.CONTROLLERS:
        h = lay.get(c)
        available[f"cgroup_{c}"] = f"v{h.version}" if h else None
        details[f"cgroup_{c}"] = f"v{h.version} {cg._join(h.mount, h.own)}" if h else "controller not found"
    group = None
    try:
        cg.cleanup_dead()  # probes and servers killed before they could clean up
        group = cg.EnvCgroup.create("probe", 64, scope=f"probe-{os.getpid()}-{int(time.time() * 1000) % 100000}")
        details["cgroups"] = "created " + ", ".join(f"{c}:{d}" for c, d in group.dirs.items())
        if group.warnings:
            details["cgroups"] += "; " + "; ".join(group.warnings)
    except (OSError, ValueError) as e:
        details["cgroups"] = f"cannot create an environment cgroup: {e}"

    # A throwaway child confines itself as an environment would.
    runtimes = Path(__file__).resolve().parent.parent / "runtimes"
    cfg = cf.ConfinementConfig(
        uid=cf.PROBE_UID,
        cgroup_procs=group.procs_files if group else (),
        namespaces=("mount", "ipc", "uts", "cgroup", "net"),
        pid_namespace=True,
        hostname="nubis-probe",
        tmp_mb=1,
        shm_mb=1,
        code_dir=str(runtimes) if runtimes.is_dir() else None,
        readonly_paths=cf.runtime_paths(),
        hide=tuple(p for p in ("/var/tmp",) if os.path.isdir(p)),
    )
    cf.warm(cfg)
    r, w = os.pipe()
    child = {}
    try:
        pid = os.fork()
    except OSError as e:
        os.close(r)
        os.close(w)
        details["fork"] = str(e)
        pid = -1
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        _child_checks(cfg, w)
    if pid > 0:
        os.close(w)
        data = b""
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                details["probe"] = f"probe child did not answer within {PROBE_TIMEOUT_S}s"
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
            poller = select.poll()  # not select(): fds above 1024 are normal on a busy server
            poller.register(r, select.POLLIN)
            if not poller.poll(left * 1000):
                continue
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        os.close(r)
        os.waitpid(pid, 0)
        try:
            child = json.loads(data) if data else {}
        except ValueError:
            child = {"error": "unreadable probe output"}
    if group is not None:
        peak = group.peak_bytes() or 0
        available["cgroups"] = bool("memory" in group.dirs and peak > 0 and child.get("report") is not None)
        if not group.destroy(remove_parent_if_empty=True):
            details["cgroups_cleanup"] = "; ".join(group.warnings)
    else:
        available["cgroups"] = False

    rep = child.get("report") or {"applied": [], "skipped": [], "refused": []}
    refused = {step: why for step, why in rep.get("refused", [])}
    applied = rep.get("applied", [])
    if "error" in child:
        details["probe_error"] = child["error"]

    def ns_ok(name: str) -> bool:
        return f"{name} namespace" not in refused and any(
            a.startswith("namespaces:") and name in a.split(":", 1)[1].strip().split(",") for a in applied
        )

    for name in ("mount", "ipc", "uts", "cgroup", "net"):
        available[f"{name}_namespaces"] = bool(child) and ns_ok(name)
        details[f"{name}_namespaces"] = refused.get(f"{name} namespace", "ok" if available[f"{name}_namespaces"] else "not tested")
    available["pid_namespaces"] = child.get("pid") == 1
    details["pid_namespaces"] = refused.get("pid namespace", "ok" if available["pid_namespaces"] else "not tested")
    available["user_namespaces"] = bool(child.get("user_namespaces"))
    details["user_namespaces"] = "ok" if available["user_namespaces"] else (
        f"errno {child.get('user_namespaces_errno')}" if child else "not tested")
    available["private_tmp"] = child.get("tmp_fstype") == "tmpfs"
    hidden = child.get("hidden_empty") or {}
    available["hidden_paths"] = bool(hidden) and all(hidden.values()) and all(f"hide {h}" in applied for h in hidden)
    available["read_only_code"] = child.get("code_write") == 30 and any(  # EROFS: the mount, not the uid
        a == f"read-only {cfg.code_dir}" for a in applied)
    available["hidepid"] = any(a.startswith("fresh /proc") and "hidepid" in a for a in applied)
    available["setuid"] = child.get("uid") == cf.PROBE_UID
    details["setuid"] = refused.get(f"uid {cf.PROBE_UID}", "ok" if available["setuid"] else "not tested")
    available["no_new_privs"] = bool(child.get("no_new_privs"))
    available["seccomp"] = child.get("mount_after") == 1 and child.get("unshare_after") == 1  # EPERM
    details["seccomp"] = refused.get("seccomp", "ok" if available["seccomp"] else
                                     f"mount after confinement: errno {child.get('mount_after')}")
    available["rlimits"] = not any(k.startswith("RLIMIT") for k in refused)
    details["refused"] = [f"{s}: {w}" for s, w in refused.items()]
    details["applied"] = applied
    return available, details


def _missing(available: dict) -> list[str]:
    want = {
        "uid": available.get("setuid"),
        "namespaces": available.get("mount_namespaces") and available.get("ipc_namespaces"),
        "private-tmp": available.get("private_tmp"),
        "seccomp": available.get("seccomp"),
        "cgroup-memory": available.get("cgroups"),
        "cgroup-pids": bool(available.get("cgroup_pids")),
        "cgroup-cpu": bool(available.get("cgroup_cpu")),
    }
    return [k for k, ok in want.items() if not ok]


def enforceable() -> list[str]:
    """Feature names the host allows (for ``set_enforced`` once the launcher applies them)."""
    available, _ = _host()
    ok = {
        "uid": available.get("setuid"),
        "namespaces": available.get("mount_namespaces"),
        "private-tmp": available.get("private_tmp"),
        "hidden-paths": available.get("hidden_paths"),
        "read-only-code": available.get("read_only_code"),
        "hidepid": available.get("hidepid"),
        "rlimits": available.get("rlimits"),
        "no-new-privs": available.get("no_new_privs"),
        "seccomp": available.get("seccomp"),
        "cgroup-memory": available.get("cgroups"),
        "cgroup-pids": available.get("cgroups") and bool(available.get("cgroup_pids")),
        "cgroup-cpu": available.get("cgroups") and bool(available.get("cgroup_cpu")),
    }
    return [k for k in FEATURES if ok.get(k)]


def _host(refresh: bool = False) -> tuple[dict, dict]:
    global _cached
    with _lock:
        if _cached is None or refresh:
            _cached = _run_probe()
        return _cached


def probe(refresh: bool = False) -> dict:
    """What the host allows (tested for real once, then cached) and what is enforced."""
    available, details = _host(refresh)
    enforced = list(ENFORCED) + list(_extra_enforced)
    missing = _missing(available)
    if _off_reason or not _declared:
        why = _off_reason[0] if _off_reason else "no engine has declared what it applies"
        warning = (
            f"functions run as separate processes of the server's user: {why}; no uid, namespace, cgroup "
            "or seccomp confinement" + (f" (host also lacks: {', '.join(missing)})" if missing else "")
        )
    elif not _extra_enforced:
        warning = "the host allows no confinement" + (f" (lacks: {', '.join(missing)})" if missing else "")
    else:
        not_applied = [f for f in FEATURES if f not in enforced and f in enforceable()]
        parts = []
        if missing:
            parts.append(f"host refuses: {', '.join(missing)}")
        if not_applied:
            parts.append(f"available but not applied: {', '.join(not_applied)}")
        warning = "; ".join(parts)
    return {"enforced": enforced, "available": dict(available), "warning": warning, "details": dict(details)}
