"""Probe what isolation this host allows, so the server can say so instead of assuming.

The sandbox today is a separate process per execution environment; stronger isolation
(uid, namespaces, cgroups, seccomp) is applied by the sandbox launcher where it is enforced.
This module only reports; `enforced` names what the launcher actually applies.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

ENFORCED = ["process", "process-group", "timeout-kill"]


def _writable(path: str) -> bool:
    p = Path(path)
    return p.is_dir() and os.access(p, os.W_OK)


@lru_cache(maxsize=1)
def probe() -> dict:
    """What the host would allow (cheap checks only; nothing is changed)."""
    available = {
        "root": os.geteuid() == 0,
        "user_namespaces": Path("/proc/self/ns/user").exists(),
        "mount_namespaces": Path("/proc/self/ns/mnt").exists(),
        "pid_namespaces": Path("/proc/self/ns/pid").exists(),
        "cgroup_v1_memory": _writable("/sys/fs/cgroup/memory"),
        "cgroup_v1_pids": _writable("/sys/fs/cgroup/pids"),
        "cgroup_v2": Path("/sys/fs/cgroup/cgroup.controllers").exists(),
        "seccomp": "Seccomp:" in Path("/proc/self/status").read_text(),
    }
    missing = [k for k in ("user_namespaces", "mount_namespaces", "cgroup_v1_memory") if not available[k]]
    return {
        "enforced": list(ENFORCED),
        "available": available,
        "warning": (
            "functions run as separate processes of the server's user; uid, namespace, cgroup and seccomp "
            "isolation are not applied yet"
            + (f" (host also lacks: {', '.join(missing)})" if missing else "")
        ),
    }
