"""Confine a freshly forked execution-environment process before user code runs.

Call :func:`confine` in the child right after ``fork()`` (from the zygote or the
launcher), while it is still root and still single-threaded, and before the
handler module is imported. It applies, in this order:

 1. join the environment's cgroups (write ``0`` to their ``cgroup.procs``)
 2. new mount / ipc / uts / cgroup namespaces (network only when asked)
 3. optionally a new pid namespace (a double fork: see :func:`enter_pid_namespace`)
 4. mounts: everything private (``MS_REC|MS_PRIVATE``); private tmpfs on ``/tmp``
    (sized by EphemeralStorage) and ``/dev/shm``; empty read-only tmpfs over hidden
    paths (the server's data dir) and over ancestors the environment's uid could not
    traverse; the code dir and the runtime's paths bind-mounted back read-only
    (optionally the code dir also at ``/var/task``); a fresh ``/proc`` with
    ``hidepid=2`` so other users' processes are invisible
 5. rlimits (``RLIMIT_NOFILE``, ``RLIMIT_NPROC`` — per uid, so per environment —
    and ``RLIMIT_CORE`` 0), chdir
 6. drop the capability bounding set, clear supplementary groups, setresgid/setresuid
    to the environment's own uid/gid
 7. ``PR_SET_DUMPABLE`` back to 1 (see :class:`ConfinementConfig`), parent-death signal
 8. ``no_new_privs`` and a seccomp filter that answers EPERM to what a function never
    needs (mount, ptrace, module loading, namespaces, bpf, keyrings, clock setting, ...)

Nothing here raises because the host refuses a step: every step is recorded in the
returned :class:`Report` as applied, skipped or refused (with the errno), so the
caller can log a warning. Only programming errors (bad config types) raise.

The module is stdlib-only with no package-relative imports (ctypes + prctl; the BPF
program is assembled here for x86_64 and aarch64), so code under ``runtimes/`` (which
imports nothing from nubis) can load it by file path. Load it (and call :func:`warm`) in
the zygote before forking so that a child pays for nothing but the system calls.
Launchers that exec a runtime use :func:`exec_argv` (a wrapper that confines, then execs).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # run by path (the exec wrapper): keep engine/types.py from shadowing stdlib types
    sys.path[:] = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0])]

import ctypes
import errno as _errno
import os
import resource
import stat

# Kept light on purpose (no dataclasses, typing, socket or signal at import time): the exec
# wrapper (exec_argv) imports this module in a fresh interpreter on every cold start.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterable, Sequence

SIGKILL = 9

# --------------------------------------------------------------------------- libc

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NS_MASK = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
SECCOMP_MODE_FILTER = 2

NAMESPACE_FLAGS = {
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "cgroup": CLONE_NEWCGROUP,
    "net": CLONE_NEWNET,
}


def _err(e: int) -> str:
    return f"{_errno.errorcode.get(e, str(e))} ({os.strerror(e)})"


def _check(rc: int) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def unshare(flags: int) -> None:
    """unshare(2) (Python 3.11 has no ``os.unshare``). Raises OSError."""
    _check(_libc.unshare(flags))


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2). Raises OSError."""
    _check(
        _libc.mount(
            os.fsencode(source) if source is not None else None,
            os.fsencode(target),
            os.fsencode(fstype) if fstype is not None else None,
            flags,
            data.encode() if data is not None else None,
        )
    )


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    rc = _libc.prctl(option, a2, a3, a4, a5)
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rc


# --------------------------------------------------------------------------- config

UID_BASE = 100000  # per-environment uids: UID_BASE + n
UID_COUNT = 65536
PROBE_UID = UID_BASE + UID_COUNT  # used by isolation.probe(), outside the pool

DEFAULT_NOFILE = 1024
DEFAULT_NPROC = 1024


_CONFIG_FIELDS: dict[str, object] = {
    "uid": None,  # drop to this uid (None: keep the current one)
    "gid": None,  # default: same number as uid
    "cgroup_procs": (),  # cgroup.procs files to join (EnvCgroup.procs_files)
    "namespaces": ("mount", "ipc", "uts", "cgroup"),  # + "net" to cut the network off
    "pid_namespace": False,  # new pid namespace via a double fork (see enter_pid_namespace)
    "hostname": None,  # set in the new uts namespace
    "tmp_mb": 512,  # private tmpfs on /tmp of this size (EphemeralStorage); None: keep the host's /tmp
    "shm_mb": 64,  # private tmpfs on /dev/shm; None: keep the host's
    "code_dir": None,  # bind-mounted read-only onto itself
    "binds": (),  # more read-only binds, [source, target] pairs (e.g. the function's layers at /opt)
    "shared": (),  # host directories bind-mounted read-write at the same path (opt-in: NUBIS_SHARED_DIRS)
    "task_root_alias": None,  # e.g. "/var/task": the code dir also there (the mountpoint must exist)
    "readonly_paths": (),  # must stay readable (runtime dir, interpreter prefix, venv)
    "hide": (),  # covered by an empty read-only tmpfs (server data dir, /var/tmp, ...)
    "hidepid": True,  # fresh /proc with hidepid=2 (needs the mount namespace)
    "chdir": None,  # default: task_root_alias or code_dir
    "nofile": DEFAULT_NOFILE,  # RLIMIT_NOFILE
    "nproc": DEFAULT_NPROC,  # RLIMIT_NPROC (counted per uid: per environment with per-environment uids)
    "core": 0,  # RLIMIT_CORE
    "drop_bounding_caps": True,
    # After the uid change the kernel makes the process non-dumpable, which makes the
    # ptrace-checked /proc/self files (environ, mem, ...) root-owned and unreadable to the
    # process itself. The uid is the environment's own and ptrace is denied by seccomp, so
    # setting it back to 1 exposes the process to nobody else; core files stay off (core=0).
    "dumpable": True,
    "parent_death_signal": None,  # e.g. 9 (SIGKILL); set after the uid change, which clears it
    "no_new_privs": True,
    "seccomp": True,
    "seccomp_deny": None,  # None: DEFAULT_DENY
}


class ConfinementConfig:
    """What :func:`confine` applies (keyword arguments; see ``_CONFIG_FIELDS`` for the
    fields and their defaults). Immutable and plain data: :meth:`to_dict` /
    :meth:`from_dict` carry it as JSON to a zygote or to the exec wrapper."""

    __slots__ = tuple(_CONFIG_FIELDS)

    def __init__(self, **kw) -> None:
        for k, default in _CONFIG_FIELDS.items():
            v = kw.pop(k, default)
            if k == "binds":
                v = tuple((str(b[0]), str(b[1])) for b in v or ())
            object.__setattr__(self, k, tuple(v) if isinstance(v, list) else v)
        if kw:
            raise TypeError(f"unknown confinement option(s): {', '.join(sorted(kw))}")

    def __setattr__(self, k, v) -> None:
        raise AttributeError("ConfinementConfig is immutable; use replace()")

    def replace(self, **kw) -> "ConfinementConfig":
        d = {k: getattr(self, k) for k in _CONFIG_FIELDS}
        d.update(kw)
        return ConfinementConfig(**d)

    def to_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k in _CONFIG_FIELDS for v in (getattr(self, k),)}
        d["binds"] = [list(b) for b in self.binds]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ConfinementConfig":
        return cls(**d)

    def __eq__(self, other) -> bool:
        return isinstance(other, ConfinementConfig) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, k) for k in _CONFIG_FIELDS))

    def __repr__(self) -> str:
        diff = ", ".join(f"{k}={getattr(self, k)!r}" for k, d in _CONFIG_FIELDS.items() if getattr(self, k) != d)
        return f"ConfinementConfig({diff})"


class Report:
    """What :func:`confine` did: ``applied`` and ``skipped`` are step names (with a
    short detail), ``refused`` is (step, reason) for what the host or the config refused."""

    __slots__ = ("applied", "skipped", "refused")

    def __init__(self, applied=None, skipped=None, refused=None) -> None:
        self.applied: list[str] = list(applied or [])
        self.skipped: list[str] = list(skipped or [])
        self.refused: list[tuple[str, str]] = [tuple(x) for x in (refused or [])]

    @property
    def ok(self) -> bool:
        return not self.refused

    def warning(self) -> str | None:
        if not self.refused:
            return None
        return "confinement incomplete: " + "; ".join(f"{s}: {r}" for s, r in self.refused)

    def to_dict(self) -> dict:
        return {"applied": list(self.applied), "skipped": list(self.skipped), "refused": [list(x) for x in self.refused]}

    def __repr__(self) -> str:
        return f"Report(applied={self.applied!r}, skipped={self.skipped!r}, refused={self.refused!r})"


# --------------------------------------------------------------------------- helpers for the engine


def runtime_paths() -> tuple[str, ...]:
    """Directories the Python runtime needs to keep reading after the uid change:
    the interpreter prefixes and every existing sys.path directory (the stdlib is
    imported lazily, and it may live under a 0700 home such as /root/.pyenv)."""
    out: list[str] = []
    for p in (sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))):
        out.append(os.path.realpath(p))
    for p in sys.path:
        if p and os.path.isdir(p):
            out.append(os.path.realpath(p))
    return _outermost(out)


def _outermost(paths: Iterable[str]) -> tuple[str, ...]:
    """Deduplicate, dropping paths inside another listed path."""
    uniq = sorted({os.path.normpath(p) for p in paths}, key=lambda p: (p.count("/"), p))
    kept: list[str] = []
    for p in uniq:
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(p)
    return tuple(kept)


class UidPool:
    """Per-environment uids ``base .. base+count-1``, handed out round-robin: a released
    uid is reused last, because an environment's killed orphans can linger for seconds
    as zombies of pid 1 and still count toward that uid's RLIMIT_NPROC.

    ``warnings`` lists overlaps with /etc/passwd users or /etc/subuid ranges found at
    construction (an overlapping uid would share files and RLIMIT_NPROC with them)."""

    def __init__(self, base: int = UID_BASE, count: int = UID_COUNT) -> None:
        self.base = base
        self.count = count
        self._free_hint = 0
        self._used: set[int] = set()
        self.warnings: list[str] = []
        try:
            with open("/etc/passwd") as f:
                for line in f:
                    parts = line.split(":")
                    if len(parts) > 2 and parts[2].isdigit() and base <= int(parts[2]) < base + count:
                        self.warnings.append(f"uid {parts[2]} ({parts[0]}) in /etc/passwd is inside the pool")
        except OSError:
            pass
        for path in ("/etc/subuid", "/etc/subgid"):
            try:
                with open(path) as f:
                    for line in f:
                        parts = line.strip().split(":")
                        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                            lo, n = int(parts[1]), int(parts[2])
                            if lo < base + count and base < lo + n:
                                self.warnings.append(f"{path} range {lo}+{n} ({parts[0]}) overlaps the pool")
            except OSError:
                pass

    def acquire(self) -> int:
        for i in range(self.count):
            n = (self._free_hint + i) % self.count
            uid = self.base + n
            if uid not in self._used:
                self._used.add(uid)
                self._free_hint = n + 1
                return uid
        raise RuntimeError("no free environment uid")

    def release(self, uid: int) -> None:
        self._used.discard(uid)


def environment_config(
    *,
    uid: int | None,
    code_dir: str,
    ephemeral_mb: int = 512,
    cgroup_procs: Sequence[str] = (),
    data_dir: str | None = None,
    runtime_dirs: Sequence[str] = (),
    task_root_alias: str | None = None,
    isolate_network: bool = False,
    pid_namespace: bool = False,
    hide_extra: Sequence[str] = ("/var/tmp",),
    parent_death_signal: int | None = SIGKILL,
) -> ConfinementConfig:
    """The configuration the engine should use for one execution environment.

    ``runtime_dirs`` are the runtime's own files (e.g. ``nubis/runtimes/python``, the
    node binary's directory); the interpreter's paths (:func:`runtime_paths`) are added.
    ``parent_death_signal`` is set *after* the uid change (which clears it): the
    environment dies with the process that forked it, as it does without confinement."""
    hide = [p for p in ((data_dir,) if data_dir else ()) + tuple(hide_extra) if p]
    return ConfinementConfig(
        uid=uid,
        cgroup_procs=tuple(cgroup_procs),
        namespaces=("mount", "ipc", "uts", "cgroup") + (("net",) if isolate_network else ()),
        pid_namespace=pid_namespace,
        tmp_mb=ephemeral_mb,
        code_dir=code_dir,
        task_root_alias=task_root_alias,
        readonly_paths=_outermost(tuple(runtime_dirs) + runtime_paths()),
        hide=tuple(hide),
        parent_death_signal=parent_death_signal,
    )


# --------------------------------------------------------------------------- seccomp

# name: (x86_64, aarch64); None where the architecture has no such call.
SYSCALLS: dict[str, tuple[int | None, int | None]] = {
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "setns": (308, 268),
    "unshare": (272, 97),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "clock_adjtime": (305, 266),
    "adjtimex": (159, 171),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "quotactl_fd": (443, 443),
    "syslog": (103, 116),
    "vhangup": (153, 58),
    "lookup_dcookie": (212, 18),
    "iopl": (172, None),
    "ioperm": (173, None),
    "uselib": (134, None),
    "_sysctl": (156, None),
    "clone": (56, 220),
    "clone3": (435, 435),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "seccomp": (317, 277),
    "landlock_create_ruleset": (444, 444),
}

DEFAULT_DENY: tuple[str, ...] = (
    "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    "mount_setattr", "setns", "unshare", "ptrace", "process_vm_readv", "process_vm_writev", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "open_by_handle_at",
    "name_to_handle_at", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "acct", "quotactl",
    "quotactl_fd", "syslog", "vhangup", "lookup_dcookie", "iopl", "ioperm", "uselib", "_sysctl",
    # answered ENOSYS so that libc / libuv fall back (clone3 -> clone, io_uring -> epoll + threads):
    "clone3", "io_uring_setup", "io_uring_enter", "io_uring_register",
)
# clone(2) itself stays allowed; only clone with a CLONE_NEW* flag is refused (flags are
# args[0] on both architectures). clone3 takes its flags in memory, which a filter
# cannot read, so it gets ENOSYS and glibc >= 2.34 falls back to clone.
ENOSYS_CALLS = frozenset({"clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"})

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20
_BPF_JEQ_K = 0x05 | 0x10 | 0x00
_BPF_JGE_K = 0x05 | 0x30 | 0x00
_BPF_JSET_K = 0x05 | 0x40 | 0x00
_BPF_RET_K = 0x06 | 0x00
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def machine_arch() -> str | None:
    m = os.uname().machine
    if m in ("x86_64", "amd64"):
        return "x86_64"
    if m in ("aarch64", "arm64"):
        return "aarch64"
    return None


def syscall_nr(name: str, arch: str | None = None) -> int | None:
    arch = arch or machine_arch()
    if arch is None or name not in SYSCALLS:
        return None
    return SYSCALLS[name][0 if arch == "x86_64" else 1]


def build_filter(deny: Sequence[str] = DEFAULT_DENY, arch: str | None = None) -> list[tuple[int, int, int, int]]:
    """The BPF program as (code, jt, jf, k) tuples.

    Layout: a foreign architecture (i386 / arm32 compat entry) kills the process; on
    x86_64 the x32 ABI (nr | 0x40000000) gets EPERM; each denied number returns EPERM
    (ENOSYS for ENOSYS_CALLS); clone with a namespace flag returns EPERM; the rest is
    allowed."""
    arch = arch or machine_arch()
    if arch not in ("x86_64", "aarch64"):
        raise ValueError(f"no seccomp syscall table for {os.uname().machine}")
    audit = AUDIT_ARCH_X86_64 if arch == "x86_64" else AUDIT_ARCH_AARCH64
    idx = 0 if arch == "x86_64" else 1
    eperm_nrs: list[int] = []
    enosys_nrs: list[int] = []
    for name in deny:
        if name not in SYSCALLS:
            raise ValueError(f"unknown syscall {name!r}")
        nr = SYSCALLS[name][idx]
        if nr is None or name == "clone":
            continue
        (enosys_nrs if name in ENOSYS_CALLS else eperm_nrs).append(nr)
    clone_nr = SYSCALLS["clone"][idx]

    # Symbolic program; jump targets are labels resolved below.
    prog: list[tuple] = [
        ("ld", 4),  # seccomp_data.arch
        ("jeq", audit, None, "kill"),
        ("ld", 0),  # seccomp_data.nr
    ]
    if arch == "x86_64":
        prog.append(("jge", X32_SYSCALL_BIT, "eperm", None))
    for nr in eperm_nrs:
        prog.append(("jeq", nr, "eperm", None))
    for nr in enosys_nrs:
        prog.append(("jeq", nr, "enosys", None))
    prog += [
        ("jeq", clone_nr, None, "allow"),
        ("ld", 16),  # low 32 bits of args[0] (little-endian on both)
        ("jset", CLONE_NS_MASK, "eperm", None),
        ("label", "allow"), ("ret", SECCOMP_RET_ALLOW),
        ("label", "eperm"), ("ret", SECCOMP_RET_ERRNO | _errno.EPERM),
        ("label", "enosys"), ("ret", SECCOMP_RET_ERRNO | _errno.ENOSYS),
        ("label", "kill"), ("ret", SECCOMP_RET_KILL_PROCESS),
    ]
    labels: dict[str, int] = {}
    pc = 0
    for ins in prog:
        if ins[0] == "label":
            labels[ins[1]] = pc
        else:
            pc += 1
    out: list[tuple[int, int, int, int]] = []
    pc = 0
    for ins in prog:
        op = ins[0]
        if op == "label":
            continue
        if op == "ld":
            out.append((_BPF_LD_W_ABS, 0, 0, ins[1]))
        elif op == "ret":
            out.append((_BPF_RET_K, 0, 0, ins[1]))
        else:
            code = {"jeq": _BPF_JEQ_K, "jge": _BPF_JGE_K, "jset": _BPF_JSET_K}[op]
            jt = 0 if ins[2] is None else labels[ins[2]] - pc - 1
            jf = 0 if ins[3] is None else labels[ins[3]] - pc - 1
            if not (0 <= jt <= 255 and 0 <= jf <= 255):  # pragma: no cover - list is short
                raise ValueError("seccomp filter too long for 8-bit jumps")
            out.append((code, jt, jf, ins[1]))
        pc += 1
    return out


_compiled_cache: dict = {}


def _compiled(deny: tuple[str, ...]) -> tuple[_SockFprog, object]:
    hit = _compiled_cache.get(deny)
    if hit is None:
        ins = build_filter(deny)
        arr = (_SockFilter * len(ins))(*[_SockFilter(*i) for i in ins])
        prog = _SockFprog(len(ins), ctypes.cast(arr, ctypes.POINTER(_SockFilter)))
        hit = _compiled_cache[deny] = (prog, arr)  # keep arr alive with prog
    return hit


def load_seccomp(deny: Sequence[str] | None = None) -> None:
    """Install the filter on the calling thread (its children inherit it). Needs
    no_new_privs or CAP_SYS_ADMIN. Raises OSError."""
    prog, _arr = _compiled(tuple(deny) if deny is not None else DEFAULT_DENY)
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))


# What complete() still calls after prepare() loaded the early part of a split filter.
COMPLETE_CALLS = frozenset({"mount", "unshare"})


def _deny_of(cfg: ConfinementConfig | None) -> tuple[str, ...]:
    return tuple(cfg.seccomp_deny) if cfg is not None and cfg.seccomp_deny is not None else DEFAULT_DENY


def _split_deny(deny: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(what prepare() may deny already, what complete() denies last) of a deny list."""
    return tuple(n for n in deny if n not in COMPLETE_CALLS), tuple(n for n in deny if n in COMPLETE_CALLS)


def warm(config: ConfinementConfig | None = None) -> None:
    """Precompute what a child would otherwise compute (the BPF programs: whole, and split
    in two for a spare). Call in the zygote before forking."""
    if machine_arch() is not None:
        deny = _deny_of(config)
        _compiled(deny)
        for part in _split_deny(deny):
            if part:
                _compiled(part)
    _cap_last()
    if config is not None:  # a spare's mount plan (see prepare(split=True, for_uid=UID_BASE))
        uid = config.uid if config.uid is not None else UID_BASE
        gid = config.gid if config.gid is not None else uid
        _plan_cache[_plan_key(config, uid, gid)] = _plan_mounts(config, uid, gid)


# --------------------------------------------------------------------------- pid namespace


def enter_pid_namespace(report: Report | None = None) -> bool:
    """Put the caller's future code into a new pid namespace. Call as root in the
    forked child, after joining cgroups and before the mounts.

    unshare(CLONE_NEWPID) does not move the caller: only its *next* child is born in
    the new namespace (as its pid 1). So this forks once more:

    * the grandchild (pid 1 inside) returns True and carries on confining itself; it
      gets PR_SET_PDEATHSIG=SIGKILL so it dies with its parent, and when it dies the
      kernel kills everything else in the namespace;
    * the intermediate process (the pid the launcher knows, still in the caller's
      namespace) closes every fd above 2, forwards SIGTERM/SIGINT/SIGHUP/SIGUSR1/SIGUSR2
      to the grandchild, waits for it and exits the same way (same exit code, or the
      same signal) - it never returns.

    Consequences for the launcher: the pid it watches is the intermediate's (exit
    status is mirrored, but its VmHWM is not the function's - use the cgroup peak);
    pid 1 ignores signals it has no handler for when sent from inside the namespace,
    and it inherits orphans (the runtime should reap them). Returns False (and
    records a refusal) if the host refuses the namespace; the caller continues in
    its own process then.
    """
    try:
        unshare(CLONE_NEWPID)
    except OSError as e:
        if report is not None:
            report.refused.append(("pid namespace", _err(e.errno)))
        return False
    pid = os.fork()
    if pid == 0:
        try:
            prctl(PR_SET_PDEATHSIG, SIGKILL)
        except OSError:
            pass
        if report is not None:
            report.applied.append("pid namespace (pid 1 of a new namespace)")
        return True
    _mirror_child(pid)  # never returns


def _mirror_child(pid: int) -> None:  # pragma: no cover - runs in the intermediate process
    try:
        import signal

        os.closerange(3, 1 << 20)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, lambda s, _f: os.kill(pid, s))
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                os._exit(1)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
                os.kill(os.getpid(), sig)
                os._exit(128 + sig)  # the signal does not kill (e.g. SIGCHLD): say how init died
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
    finally:
        os._exit(1)


# --------------------------------------------------------------------------- mounts


def _can_traverse(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _can_read(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        r, x = stat.S_IRUSR, stat.S_IXUSR
    elif st.st_gid == gid:
        r, x = stat.S_IRGRP, stat.S_IXGRP
    else:
        r, x = stat.S_IROTH, stat.S_IXOTH
    if stat.S_ISDIR(st.st_mode):
        return bool(st.st_mode & r) and bool(st.st_mode & x)
    return bool(st.st_mode & r)


def _blocking_ancestor(path: str, uid: int, gid: int) -> str | None:
    """The topmost ancestor directory of ``path`` that ``uid`` cannot traverse."""
    comps = [c for c in path.split("/") if c]
    ancestors = ["/"]
    for c in comps[:-1]:
        ancestors.append(os.path.join(ancestors[-1], c))
    for a in ancestors:
        try:
            st = os.stat(a)
        except OSError:
            return None
        if not _can_traverse(st, uid, gid):
            return a
    return None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


_ST_TO_MS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC))


def _locked_flags(path: str) -> int:
    try:
        f = os.statvfs(path).f_flag
    except OSError:
        return 0
    return sum(ms for st, ms in _ST_TO_MS if f & st)


def _remount_ro(path: str, extra: int = 0) -> None:
    mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | _locked_flags(path) | extra)


def _makedirs_in(path: str, covers: list[str], file: bool = False) -> bool:
    """Create the mountpoint ``path`` (a directory, or an empty file for a file bind) if
    it lies inside one of our own tmpfs covers - never on the host's filesystems."""
    if os.path.lexists(path):
        return os.path.isfile(path) if file else os.path.isdir(path)
    if not any(_under(path, c) and path != c for c in covers):
        return False
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        if not _makedirs_in(parent, covers):
            return False
    if file:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        os.chmod(path, 0o644)
    else:
        os.mkdir(path)
        os.chmod(path, 0o755)  # whatever the umask: the environment's uid must traverse it
    return True


class Prepared:
    """What :func:`prepare` set up, for :func:`complete` to finish.

    A split confinement is for a process forked *before* its function is known (a
    zygote's spare): :func:`prepare` does the function-independent, costly part while the
    process waits (namespaces, the mount tree with its covers, the runtime's read-only
    paths, a fresh /proc, the capability bounding set); :func:`complete` does the rest once
    the function is known (cgroup join and cgroup namespace, /tmp size, the code dir and the
    other binds, covers read-only, rlimits, chdir, uid, seccomp). :func:`confine` is both
    in one go.

    Seccomp is split too (as root): :func:`prepare` loads the filter without the calls
    :func:`complete` still makes (``COMPLETE_CALLS``), :func:`complete` stacks a small filter
    that denies those. Stacked filters answer the most restrictive of their actions, so the
    process ends up exactly as confined as with one filter; the spare's wait holds the costly
    part (attaching a filter emulates it for every syscall number: ~0.1 ms for the big one)."""

    __slots__ = ("report", "cfg", "uid", "gid", "got", "defer_cgroup_ns", "joined", "in_pidns", "mounts_ok",
                 "covers", "writable", "mounted", "hidden", "roots", "resolved", "tmp_mb", "caps_dropped", "split",
                 "seccomp_early")

    def __init__(self, cfg: ConfinementConfig) -> None:
        self.report = Report()
        self.cfg = cfg
        self.uid: int | None = None
        self.gid: int | None = None
        self.got: set[str] = set()
        self.defer_cgroup_ns = False
        self.joined = False
        self.in_pidns = False
        self.mounts_ok = False
        self.covers: dict[str, str] = {}  # path -> what it is for (an empty tmpfs, read-only once complete)
        self.writable: dict[str, str] = {}  # private writable tmpfs: path -> options
        self.mounted: list[str] = []  # our tmpfs mounts (covers and writable), shallow first
        self.hidden: set[str] = set()
        self.roots: dict[str, int] = {}  # O_PATH fds of what our tmpfs mounts cover, opened before they did
        self.resolved: dict[str, str] = {}  # realpath of bind targets, resolved before the covers
        self.tmp_mb: int | None = None
        self.caps_dropped = False
        self.split = False
        self.seccomp_early: frozenset[str] = frozenset()  # denied by the filter prepare() loaded already

    def close(self) -> None:
        for fd in self.roots.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.roots.clear()

    def open_source(self, src: str) -> int:
        """An O_PATH fd on ``src`` (a path of the host's view, realpath'd): under one of our
        tmpfs mounts it is reached from below, through the fd of what that mount covers (a
        bind source must be in this mount namespace, so the engine cannot send its own fd)."""
        src = self.resolved.get(src) or src
        best = None
        for r in self.roots:
            if _under(src, r) and (best is None or len(r) > len(best)):
                best = r
        if best is None:
            return os.open(src, os.O_PATH | os.O_CLOEXEC)
        rel = os.path.relpath(src, best)
        if rel == ".":
            return os.dup(self.roots[best])
        return os.open(rel, os.O_PATH | os.O_CLOEXEC, dir_fd=self.roots[best])


def _add_ancestor_covers(paths: Iterable[str], uid: int, gid: int, covers: dict[str, str], report: Report,
                         exact: bool = False) -> None:
    """An ancestor the environment's uid cannot traverse (e.g. /root at 0700): cover it
    with an empty tmpfs and bind back only what is wanted. ``exact``: the check runs on
    the environment's own view, where a cover higher up does not help (a shared dir may
    sit on top of it)."""
    for p in paths:
        anc = _blocking_ancestor(p, uid, gid)
        if anc is None:
            continue
        if anc == "/":
            report.refused.append((f"expose {p}", "/ is not traversable"))
            continue
        if (anc not in covers) if exact else not any(_under(anc, c) for c in covers):
            covers[anc] = f"cover {anc} (not traversable by uid {uid}) to expose {p}"


def _mount_tmpfs(prep: Prepared, path: str) -> None:
    report = prep.report
    if path in prep.writable:
        opts, extra = prep.writable[path], 0
        what = f"private tmpfs {path} ({opts.split(',')[0]})"
    else:
        opts, extra, what = "size=64k,mode=755", MS_NOEXEC, prep.covers[path]
    try:
        if not _makedirs_in(path, prep.mounted):
            report.refused.append((what, "mountpoint missing"))
            return
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | extra, opts)
        prep.mounted.append(path)
        report.applied.append(what)
    except OSError as e:
        report.refused.append((what, _err(e.errno)))


def _bind_ro(prep: Prepared, fd: int, src: str, target: str) -> None:
    report = prep.report
    try:
        if not _makedirs_in(target, prep.mounted, file=not stat.S_ISDIR(os.fstat(fd).st_mode)):
            report.refused.append((f"bind {src} -> {target}", "mountpoint missing"))
            return
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        _remount_ro(target)
        report.applied.append(f"bind {src} -> {target} (read-only)" if src != target else f"read-only {target}")
    except OSError as e:
        report.refused.append((f"bind {src} -> {target}", _err(e.errno)))


def _bind_pairs(cfg: ConfinementConfig) -> list[tuple[str, str]]:
    """(source, target) of the binds that depend on the function: the code dir (onto itself,
    and at the alias) and ``cfg.binds``."""
    pairs: list[tuple[str, str]] = []
    if cfg.code_dir:
        pairs.append((cfg.code_dir, cfg.code_dir))
        if cfg.task_root_alias:
            pairs.append((cfg.code_dir, cfg.task_root_alias))
    for b in cfg.binds or ():
        pairs.append((b[0], b[1]))
    return pairs


class _MountPlan:
    """Phase one's look at the host (realpaths, stats, which ancestors need a cover): what
    :func:`_mounts_prepare` then mounts. Pure lookups, so a zygote works it out once
    (:func:`warm`) and every spare it forks starts from the result."""

    __slots__ = ("covers", "writable", "hidden", "resolved", "tmp_mb", "binds", "shared", "skipped", "refused")

    def __init__(self) -> None:
        self.covers: dict[str, str] = {}
        self.writable: dict[str, str] = {}
        self.hidden: set[str] = set()
        self.resolved: dict[str, str] = {}
        self.tmp_mb: int | None = None
        self.binds: list[str] = []
        self.shared: list[str] = []
        self.skipped: list[str] = []
        self.refused: list[tuple[str, str]] = []


_plan_cache: dict = {}


def _plan_key(cfg: ConfinementConfig, uid: int | None, gid: int | None) -> tuple:
    return (cfg.tmp_mb, cfg.shm_mb, cfg.hide, cfg.readonly_paths, cfg.shared, cfg.code_dir, cfg.task_root_alias,
            cfg.binds, uid, gid)


def _plan_mounts(cfg: ConfinementConfig, uid: int | None, gid: int | None) -> _MountPlan:
    plan = _MountPlan()
    covers, writable = plan.covers, plan.writable
    if cfg.tmp_mb is not None:
        writable["/tmp"] = f"size={int(cfg.tmp_mb)}m,mode=1777"
        plan.tmp_mb = int(cfg.tmp_mb)
    if cfg.shm_mb is not None and os.path.isdir("/dev/shm"):
        writable["/dev/shm"] = f"size={int(cfg.shm_mb)}m,mode=1777"

    hidden = plan.hidden = {os.path.realpath(h) for h in cfg.hide}
    for h in sorted(hidden):
        if os.path.isdir(h):
            covers[h] = f"hide {h}"
        else:
            plan.skipped.append(f"hide {h} (not a directory)")

    # Sources and targets of the function's binds, resolved while the host's view is intact.
    pairs = _bind_pairs(cfg)
    for src, target in pairs:
        plan.resolved[target] = os.path.realpath(target)
        plan.resolved[src] = os.path.realpath(src)

    wanted: list[str] = []
    for p in cfg.readonly_paths:
        p = os.path.realpath(p)
        if not os.path.exists(p):
            plan.skipped.append(f"readonly {p} (missing)")
            continue
        wanted.append(p)
    for p in wanted:
        try:
            st = os.stat(p)
        except OSError as e:
            plan.refused.append((f"expose {p}", _err(e.errno)))
            continue
        if uid is not None and not _can_read(st, uid, gid):
            plan.refused.append((f"expose {p}", f"not readable by uid {uid} (mode {oct(st.st_mode & 0o7777)})"))
    if uid is not None:
        sub = Report()
        _add_ancestor_covers(wanted + [plan.resolved[t] for _s, t in pairs], uid, gid, covers, sub)
        plan.refused += sub.refused
    # Everything wanted that now lies under a cover (or a private tmpfs) gets a bind.
    # (Strictly under: a wanted path that *is* a private tmpfs or a hidden dir, such as
    # /tmp showing up in sys.path, must not undo it.)
    for p in cfg.shared or ():
        p = os.path.realpath(p)
        if not os.path.isdir(p):
            plan.skipped.append(f"share {p} (not a directory)")
        elif any(_under(p, h) for h in hidden):
            plan.refused.append((f"share {p}", "it is, or is inside, a hidden dir"))
        else:
            plan.shared.append(p)
    all_covers = list(covers) + list(writable)
    for p in wanted:
        if any(_under(w, p) for w in writable) or p in hidden:
            plan.skipped.append(f"expose {p} (it is, or contains, a private or hidden dir)")
            continue
        if any(_under(p, c) and p != c for c in all_covers) and p not in plan.binds:
            plan.binds.append(p)
    return plan


def _mounts_prepare(prep: Prepared, uid: int | None, gid: int | None) -> None:
    """Phase one of the mounts: private tree, tmpfs covers (left writable), the runtime's
    read-only paths, a fresh /proc."""
    cfg, report = prep.cfg, prep.report
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        report.applied.append("mounts private (MS_REC|MS_PRIVATE)")
    except OSError as e:
        report.refused.append(("make mounts private", _err(e.errno)))
        return  # without a private tree every further mount would leak to the host
    prep.mounts_ok = True
    plan = _plan_cache.get(_plan_key(cfg, uid, gid)) or _plan_mounts(cfg, uid, gid)
    covers, writable = prep.covers, prep.writable
    covers.update(plan.covers)
    writable.update(plan.writable)
    if plan.tmp_mb is not None:
        prep.tmp_mb = plan.tmp_mb
    prep.hidden = set(plan.hidden)
    prep.resolved.update(plan.resolved)
    report.skipped += plan.skipped
    report.refused += plan.refused
    binds, shared = plan.binds, plan.shared

    fds: dict[str, int] = {}
    try:
        for src in binds + shared:
            try:
                fds[src] = os.open(src, os.O_PATH | os.O_CLOEXEC)
            except OSError as e:
                report.refused.append((f"bind {src}", _err(e.errno)))
        # What the covers and private tmpfs hide stays reachable for phase two's binds.
        order = sorted(set(covers) | set(writable) | set(shared), key=lambda p: (p.count("/"), p))
        for path in order:
            if path in shared:
                continue
            try:
                prep.roots[path] = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                pass
        # Covers, private tmpfs and shared dirs, shallow first (a deeper one may need its
        # mountpoint created inside a shallower one, or go on top of a shared dir).
        for path in order:
            if path not in shared:
                _mount_tmpfs(prep, path)
                continue
            fd = fds.get(path)
            if fd is None:
                continue
            try:
                if not _makedirs_in(path, prep.mounted):
                    report.refused.append((f"share {path}", "mountpoint missing"))
                    continue
                mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                mount(None, path, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | _locked_flags(path))
                prep.mounted.append(path)  # mountpoints of deeper covers are made in it
                report.applied.append(f"shared {path} (read-write)")
            except OSError as e:
                report.refused.append((f"share {path}", _err(e.errno)))
        for src in sorted(binds, key=lambda b: (b.count("/"), b)):
            fd = fds.get(src)
            if fd is not None:
                _bind_ro(prep, fd, src, src)
    finally:
        for fd in fds.values():
            os.close(fd)

    if cfg.hidepid or prep.in_pidns:
        opts = "hidepid=2" if cfg.hidepid else None
        try:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts)
            report.applied.append("fresh /proc" + (" (hidepid=2)" if cfg.hidepid else ""))
        except OSError as e:
            report.refused.append(("fresh /proc", _err(e.errno)))


def _mounts_complete(prep: Prepared, cfg: ConfinementConfig, uid: int, gid: int) -> None:
    """Phase two of the mounts: /tmp size, the function's binds, covers read-only."""
    report = prep.report
    if cfg.tmp_mb is not None and prep.tmp_mb is not None and int(cfg.tmp_mb) != prep.tmp_mb:
        opts = f"size={int(cfg.tmp_mb)}m,mode=1777"
        try:
            mount(None, "/tmp", None, MS_REMOUNT | MS_NOSUID | MS_NODEV, opts)
            prep.writable["/tmp"] = opts
            prep.tmp_mb = int(cfg.tmp_mb)
            report.applied.append(f"private tmpfs /tmp resized (size={int(cfg.tmp_mb)}m)")
        except OSError as e:
            report.refused.append((f"private tmpfs /tmp (size={int(cfg.tmp_mb)}m)", _err(e.errno)))
    elif cfg.tmp_mb is not None and prep.tmp_mb is None:
        prep.writable["/tmp"] = f"size={int(cfg.tmp_mb)}m,mode=1777"
        prep.tmp_mb = int(cfg.tmp_mb)
        _mount_tmpfs(prep, "/tmp")

    writable, hidden = prep.writable, prep.hidden
    opened: list[int] = []
    code = prep.resolved.get(cfg.code_dir) or cfg.code_dir if cfg.code_dir else None
    todo: list[tuple[int, str, str]] = []
    pairs = _bind_pairs(cfg)
    if cfg.readonly_paths != prep.cfg.readonly_paths:
        # Paths this function's runtime needs beyond those phase one kept readable (a spare
        # prepared for Python that becomes Node.js): bound back where a cover hides them.
        done = set(prep.cfg.readonly_paths)
        under = list(prep.covers) + list(writable)
        for p in cfg.readonly_paths:
            if p in done:
                continue
            real = os.path.realpath(p)
            if any(_under(real, c) and real != c for c in under) and not any(_under(w, real) for w in writable) \
                    and real not in hidden:
                prep.resolved.setdefault(real, real)
                pairs.append((real, real))
    try:
        for src, target in pairs:
            target = prep.resolved.get(target) or os.path.realpath(target)
            shown = prep.resolved.get(src) or src
            try:
                fd = prep.open_source(src)
                opened.append(fd)
            except OSError as e:
                report.refused.append((f"bind {shown}", _err(e.errno)))
                continue
            # The code dir must not undo a private or hidden dir; an explicit bind (layers at
            # /opt) may go on top of a hidden one.
            if any(_under(w, target) for w in writable) or (target in hidden and target == code):
                report.skipped.append(f"expose {target} (it is, or contains, a private or hidden dir)")
                continue
            st = os.fstat(fd)
            if cfg.uid is not None and not _can_read(st, uid, gid):
                report.refused.append(
                    (f"expose {target}", f"not readable by uid {uid} (mode {oct(st.st_mode & 0o7777)})"))
            if cfg.uid is not None:
                before = dict(prep.covers)
                _add_ancestor_covers([target], uid, gid, prep.covers, report, exact=True)
                for anc in prep.covers:
                    if anc not in before:
                        _mount_tmpfs(prep, anc)
            try:
                if not _makedirs_in(target, prep.mounted, file=not stat.S_ISDIR(st.st_mode)):
                    report.refused.append((f"bind {shown} -> {target}", "mountpoint missing"))
                    continue
            except OSError as e:
                report.refused.append((f"bind {shown} -> {target}", _err(e.errno)))
                continue
            todo.append((fd, shown, target))

        # Covers read-only (and noexec) while they are still on top: a bind may go right on
        # one (the layers on the hidden /opt), and must keep its own flags. (A split
        # confinement skips this on its cold-start path: a cover is an empty tmpfs owned by
        # root, mode 755, with no capability left to write to it.)
        for path in prep.mounted if not prep.split else ():
            if path in prep.covers:
                try:
                    _remount_ro(path, MS_NOEXEC)
                except OSError as e:
                    report.refused.append((f"read-only {path}", _err(e.errno)))
        for fd, shown, target in todo:
            try:
                mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
                _remount_ro(target)
                report.applied.append(
                    f"bind {shown} -> {target} (read-only)" if shown != target else f"read-only {target}")
            except OSError as e:
                report.refused.append((f"bind {shown} -> {target}", _err(e.errno)))
    finally:
        for fd in opened:
            os.close(fd)
        prep.close()


def _loopback_up() -> None:
    import fcntl
    import socket
    import struct

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), 0x8913, ifr))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH22x", b"lo", flags | 0x1 | 0x40))  # SIOCSIFFLAGS
    finally:
        s.close()


_cap_last_cache: list[int] = []


def _cap_last() -> int:
    if not _cap_last_cache:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _cap_last_cache.append(int(f.read()))
        except (OSError, ValueError):
            _cap_last_cache.append(40)
    return _cap_last_cache[0]


# --------------------------------------------------------------------------- confine


def _single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _open_join_file(path: str, single: bool) -> int:
    """An fd to write ``0`` to for joining the cgroup of ``path`` (a ``cgroup.procs``).

    A single-threaded process joins a cgroup v1 hierarchy through its ``tasks`` file: moving
    its one thread is moving the process (the thread is the group leader, so memcg's mm owner
    and charge moving follow), and the kernel then skips the global threadgroup rwsem whose
    write side waits for an RCU grace period (Linux 6.0+, "cgroup: Optimize single thread
    migration"). Through ``cgroup.procs`` concurrent joins (a burst) queue behind that lock:
    1-3 ms each, 10-30 ms at the tail. Without a ``tasks`` file (cgroup v2): ``cgroup.procs``."""
    if single and path.endswith("/cgroup.procs"):
        try:
            return os.open(path[:-len("cgroup.procs")] + "tasks", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            pass
    return os.open(path, os.O_WRONLY | os.O_CLOEXEC)


def join_cgroups(procs_files: Iterable[str], report: Report | None = None) -> bool:
    """Move the calling process into the given cgroups (write ``0``, "myself", to each
    ``cgroup.procs``, or to ``tasks`` where that is the same: see :func:`_open_join_file`).
    Returns True if every write succeeded."""
    ok = True
    procs_files = tuple(procs_files)
    single = bool(procs_files) and _single_threaded()
    for path in procs_files:
        try:
            fd = _open_join_file(path, single)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
            if report is not None:
                report.applied.append(f"cgroup {os.path.dirname(path)}")
        except OSError as e:
            ok = False
            if report is not None:
                report.refused.append((f"cgroup {os.path.dirname(path)}", _err(e.errno)))
    return ok


def confine(cfg: ConfinementConfig) -> Report:
    """Confine the calling (freshly forked, single-threaded) process. See the module
    docstring for the order. With ``cfg.pid_namespace`` the caller's process becomes
    a waiter that never returns, and this returns in its child (pid 1 of the new
    namespace). Never raises because the host refuses something: see the Report."""
    return complete(prepare(cfg), cfg)


def prepare(cfg: ConfinementConfig, *, split: bool = False, for_uid: int | None = None) -> Prepared:
    """Phase one (see :class:`Prepared`): cgroup join (when ``cfg.cgroup_procs``),
    namespaces, the mount tree (private; /tmp, /dev/shm; covers over hidden paths and
    untraversable ancestors, still writable; the runtime's read-only paths; a fresh /proc),
    hostname, the capability bounding set.

    ``split=True`` is for a process that does not know its function yet: the cgroup
    namespace waits for :func:`complete` (it must be entered after the cgroup join), and
    covers are planned for ``for_uid`` (any environment uid: they are all strangers to the
    host's files) when ``cfg.uid`` is not set yet."""
    prep = Prepared(cfg)
    prep.split = split
    report = prep.report
    uid = cfg.uid if cfg.uid is not None else for_uid
    gid = cfg.gid if cfg.gid is not None else uid
    prep.uid, prep.gid = uid, gid

    # 1. cgroups, while still root and before a cgroup namespace hides the tree.
    if cfg.cgroup_procs:
        join_cgroups(cfg.cgroup_procs, report)
        prep.joined = True

    # 2. namespaces: all at once (one copy of the mount table), then one by one to find
    # out which the host refuses.
    names = list(cfg.namespaces)
    for name in names:
        if name not in NAMESPACE_FLAGS:
            raise ValueError(f"unknown namespace {name!r}")
    if split and "cgroup" in names and not prep.joined:
        names.remove("cgroup")
        prep.defer_cgroup_ns = True
    _unshare_all(prep, names)
    got = prep.got
    if "net" in got:
        try:
            _loopback_up()
            report.applied.append("loopback up in the new network namespace")
        except OSError as e:
            report.refused.append(("loopback up", _err(e.errno)))
    if cfg.hostname and "uts" in got:
        try:
            name = cfg.hostname.encode()
            _check(_libc.sethostname(name, len(name)))
            report.applied.append(f"hostname {cfg.hostname}")
        except OSError as e:
            report.refused.append(("hostname", _err(e.errno)))

    # 3. pid namespace (double fork; only the grandchild returns).
    if cfg.pid_namespace:
        if "mount" not in got:
            report.refused.append(("pid namespace", "needs the mount namespace (for its own /proc)"))
        elif split:
            report.refused.append(("pid namespace", "not available to a process forked ahead of its function"))
        else:
            prep.in_pidns = enter_pid_namespace(report)

    # 4. mounts, phase one.
    if "mount" in got:
        _mounts_prepare(prep, uid, gid)

    # 5. the capability bounding set (the effective set stays: phase two still mounts).
    if cfg.drop_bounding_caps and os.geteuid() == 0 and (cfg.uid is not None or for_uid is not None):
        try:
            for cap in range(_cap_last() + 1):
                prctl(PR_CAPBSET_DROP, cap)
            prep.caps_dropped = True
            report.applied.append("capability bounding set emptied")
        except OSError as e:
            report.refused.append(("capability bounding set", _err(e.errno)))

    # 6. a split seccomp filter's early part (see Prepared); complete() reports the filter.
    if split and cfg.seccomp and os.geteuid() == 0 and machine_arch() is not None:
        early, _last = _split_deny(_deny_of(cfg))
        try:
            load_seccomp(early)
            prep.seccomp_early = frozenset(early)
        except OSError:
            pass  # complete() loads the whole filter (and reports why it cannot)
    return prep


def _unshare_all(prep: Prepared, names: list[str]) -> None:
    report = prep.report
    flags = 0
    for name in names:
        flags |= NAMESPACE_FLAGS[name]
    if not flags:
        return
    got: set[str] = set()
    try:
        unshare(flags)
        got = set(names)
    except OSError:
        for name in names:
            try:
                unshare(NAMESPACE_FLAGS[name])
                got.add(name)
            except OSError as e:
                report.refused.append((f"{name} namespace", _err(e.errno)))
    if got:
        report.applied.append("namespaces: " + ",".join(n for n in names if n in got))
    prep.got |= got


def complete(prep: Prepared, cfg: ConfinementConfig | None = None) -> Report:
    """Phase two (see :class:`Prepared`), with the function's configuration ``cfg``
    (default: the one given to :func:`prepare`). Of ``cfg`` it uses: cgroup_procs, uid,
    gid, tmp_mb, code_dir, task_root_alias, binds, chdir, the rlimits,
    drop_bounding_caps, dumpable, parent_death_signal, no_new_privs, seccomp and
    seccomp_deny. Returns the report of both phases."""
    cfg = cfg if cfg is not None else prep.cfg
    report = prep.report
    is_root = os.geteuid() == 0
    uid = cfg.uid if cfg.uid is not None else (prep.uid if prep.uid is not None else os.getuid())
    gid = cfg.gid if cfg.gid is not None else (cfg.uid if cfg.uid is not None else (
        prep.gid if prep.gid is not None else os.getgid()))

    # 1. cgroups and the cgroup namespace (rooted at the environment's own cgroup).
    if cfg.cgroup_procs and not prep.joined:
        join_cgroups(cfg.cgroup_procs, report)
        prep.joined = True
    if prep.defer_cgroup_ns:
        prep.defer_cgroup_ns = False
        _unshare_all(prep, ["cgroup"])

    # 2. mounts, phase two.
    if "mount" in prep.got and prep.mounts_ok:
        _mounts_complete(prep, cfg, uid, gid)
    elif "mount" not in prep.got and (cfg.tmp_mb is not None or prep.cfg.hide or cfg.code_dir or prep.cfg.hidepid):
        report.refused.append(("mounts", "no mount namespace: /tmp, hidden paths and read-only code not applied"))
    prep.close()

    # 3. rlimits and working directory (after the mounts: a cwd taken before them would
    # still point at the covered directory).
    for name, res, val in (
        ("RLIMIT_NOFILE", resource.RLIMIT_NOFILE, cfg.nofile),
        ("RLIMIT_NPROC", resource.RLIMIT_NPROC, cfg.nproc),
        ("RLIMIT_CORE", resource.RLIMIT_CORE, cfg.core),
    ):
        if val is None:
            continue
        try:
            resource.setrlimit(res, (val, val))
            report.applied.append(f"{name}={val}")
        except (OSError, ValueError) as e:
            report.refused.append((name, str(e)))
    wd = cfg.chdir or cfg.task_root_alias or cfg.code_dir
    if wd:
        try:
            os.chdir(wd)
        except OSError as e:
            report.refused.append((f"chdir {wd}", _err(e.errno)))

    # 4. capabilities and identity.
    if cfg.uid is not None:
        if not is_root:
            report.refused.append((f"uid {cfg.uid}", "not running as root"))
        else:
            if cfg.drop_bounding_caps and not prep.caps_dropped:
                try:
                    for cap in range(_cap_last() + 1):
                        prctl(PR_CAPBSET_DROP, cap)
                    prep.caps_dropped = True
                    report.applied.append("capability bounding set emptied")
                except OSError as e:
                    report.refused.append(("capability bounding set", _err(e.errno)))
            try:
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                report.applied.append(f"uid/gid {uid}/{gid}, no supplementary groups")
            except OSError as e:
                report.refused.append((f"uid {uid}", _err(e.errno)))

    # 5. dumpable and parent-death signal (both reset by the uid change).
    if cfg.dumpable and cfg.uid is not None:
        try:
            prctl(PR_SET_DUMPABLE, 1)
        except OSError as e:
            report.refused.append(("dumpable", _err(e.errno)))
    if cfg.parent_death_signal:
        try:
            prctl(PR_SET_PDEATHSIG, int(cfg.parent_death_signal))
            report.applied.append(f"parent-death signal {int(cfg.parent_death_signal)}")
        except OSError as e:
            report.refused.append(("parent-death signal", _err(e.errno)))

    # 6. no_new_privs, then seccomp (last: it forbids the calls above).
    nnp = False
    if cfg.no_new_privs:
        try:
            prctl(PR_SET_NO_NEW_PRIVS, 1)
            nnp = True
            report.applied.append("no_new_privs")
        except OSError as e:
            report.refused.append(("no_new_privs", _err(e.errno)))
    if cfg.seccomp:
        if machine_arch() is None:
            report.refused.append(("seccomp", f"no syscall table for {os.uname().machine}"))
        elif not nnp and os.geteuid() != 0:
            report.refused.append(("seccomp", "needs no_new_privs"))
        else:
            deny = _deny_of(cfg)
            rest = tuple(n for n in deny if n not in prep.seccomp_early) if prep.seccomp_early else deny
            try:
                if rest:
                    load_seccomp(rest)
                report.applied.append(f"seccomp ({len(deny)} calls denied, clone with namespace flags denied)")
            except OSError as e:
                report.refused.append(("seccomp", _err(e.errno)))
    return report


# --------------------------------------------------------------------------- exec wrapper


def main(argv: Sequence[str] | None = None) -> None:
    """``python3 -I -S confinement.py --config JSON [--report-fd N] [--strict] -- prog args...``

    For launchers that exec (the exec fallback, Node, ``provided`` runtimes): confine,
    then execv ``prog``. stdlib only and no package imports, so it runs by file path
    with ``-I -S`` (~10 ms of interpreter start). The Report goes as one JSON line to
    ``--report-fd`` (never to stdout/stderr: those are the function's log). With
    ``--strict`` any refusal exits 126 instead of running the function."""
    import json

    # The environment exactly as given: this interpreter's start may have added to it (PEP 538
    # sets LC_CTYPE when the locale is C), and the runtime must start as if exec'd directly.
    try:
        with open("/proc/self/environ", "rb") as f:
            environ = dict(item.partition(b"=")[::2] for item in f.read().split(b"\0") if item)
    except OSError:  # pragma: no cover
        environ = None
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        sys.stderr.write("usage: confinement.py --config JSON [--report-fd N] [--strict] -- prog [args...]\n")
        os._exit(2)
    i = args.index("--")
    opts, cmd = args[:i], args[i + 1:]
    config, report_fd, strict = None, None, False
    j = 0
    while j < len(opts):
        if opts[j] == "--config":
            config = json.loads(opts[j + 1])
            j += 2
        elif opts[j] == "--report-fd":
            report_fd = int(opts[j + 1])
            j += 2
        elif opts[j] == "--strict":
            strict = True
            j += 1
        else:
            sys.stderr.write(f"confinement.py: unknown option {opts[j]}\n")
            os._exit(2)
    if not cmd or config is None:
        sys.stderr.write("confinement.py: --config and a command are required\n")
        os._exit(2)
    rep = confine(ConfinementConfig.from_dict(config))
    if report_fd is not None:
        try:
            os.write(report_fd, json.dumps(rep.to_dict()).encode() + b"\n")
            os.close(report_fd)
        except OSError:
            pass
    if strict and rep.refused:
        os._exit(126)
    try:
        prog = cmd[0] if os.sep in cmd[0] else _which(cmd[0])
        if environ is not None:
            os.execve(prog, cmd, environ)
        else:  # pragma: no cover
            os.execv(prog, cmd)
    except OSError as e:
        sys.stderr.write(f"confinement.py: cannot exec {cmd[0]}: {e.strerror}\n")
        os._exit(127)


def exec_argv(cfg: ConfinementConfig, command: Sequence[str], *, python: str | None = None,
              report_fd: int | None = None, strict: bool = False) -> list[str]:
    """The argv that confines and then execs ``command`` (for launchers that exec).

    Imports this file as a module from its directory *appended* to sys.path (so its
    compiled .pyc is reused, and engine/types.py cannot shadow the stdlib ``types``)
    with ``-I -S``: about 10 ms of interpreter start on top of the confinement itself.
    ``python`` must be readable by root (it runs before the uid change)."""
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    argv = [python or sys.executable, "-I", "-S", "-c",
            "import sys; sys.path.append(sys.argv[1]); import confinement; confinement.main(sys.argv[2:])",
            here, "--config", json.dumps(cfg.to_dict(), separators=(",", ":"))]
    if report_fd is not None:
        argv += ["--report-fd", str(report_fd)]
    if strict:
        argv.append("--strict")
    return argv + ["--"] + list(command)


def _which(name: str) -> str:
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return name


if __name__ == "__main__":
    main()
