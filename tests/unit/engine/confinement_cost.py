"""What confinement costs a cold start: fork + confine vs a plain fork.

    sudo .venv/bin/python tests/unit/engine/confinement_cost.py [-n 200] [--no-zygote]

The parent imports boto3 and freezes its heap first (like a Python zygote), so fork
itself costs what it costs in the product. For each variant it measures, per
environment: ``ready`` = fork until the child reports it is confined and could run user
code (what a cold start pays), and ``total`` = fork until the child has exited and been
reaped (what tearing the environment down costs on top). Medians and p90 in ms, and the
ratio against the plain fork measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from nubis.engine import cgroups as cg
from nubis.engine import confinement as cf


def measure(n: int, make_cfg, *, per_env_cgroup: bool = False) -> tuple[list[float], list[float], list]:
    ready, total, refused = [], [], []
    for i in range(n):
        group = None
        t0 = time.perf_counter()
        cfg = make_cfg(i)
        if per_env_cgroup:
            group = cg.EnvCgroup.create(f"cost-{uuid.uuid4().hex[:10]}", 128)
            cfg = cfg.replace(cgroup_procs=group.procs_files)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            if cfg is not None:
                rep = cf.confine(cfg)
                os.write(w, b"1" if rep.ok else b"0")
            else:
                os.write(w, b"1")
            os._exit(0)
        os.close(w)
        ok = os.read(r, 1)
        t1 = time.perf_counter()
        os.close(r)
        os.waitpid(pid, 0)
        if group is not None:
            group.destroy(remove_parent_if_empty=True)
        t2 = time.perf_counter()
        ready.append((t1 - t0) * 1000)
        total.append((t2 - t0) * 1000)
        if ok != b"1":
            refused.append(i)
    return ready, total, refused


def p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--no-zygote", action="store_true", help="do not import boto3 first")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: confinement needs it")
    if not args.no_zygote:
        import boto3  # noqa: F401

        gc.collect()
        gc.freeze()

    base = tempfile.mkdtemp(prefix="nubis-cost-", dir="/var/tmp")
    os.chmod(base, 0o755)
    data = os.path.join(base, "data")
    code = os.path.join(data, "code", "fn")
    os.makedirs(code)
    for d in (data, os.path.dirname(code), code):
        os.chmod(d, 0o755)
    with open(os.path.join(code, "app.py"), "w") as f:
        f.write("def handler(e, c):\n    return 1\n")
    rt = cf.runtime_paths()
    pool = cf.UidPool()

    def env(**kw):
        def make(i):
            d = dict(uid=pool.acquire(), code_dir=code, hide=(data,), tmp_mb=512, readonly_paths=rt)
            d.update(kw)
            return cf.ConfinementConfig(**d)

        return make

    shared = cg.EnvCgroup.create(f"cost-shared-{os.getpid()}", 128)
    variants = [
        ("plain fork", lambda i: None, False),
        ("fork + setuid + rlimits + seccomp (no namespaces)", env(namespaces=(), hidepid=False, tmp_mb=None, shm_mb=None,
                                                                  code_dir=None, hide=(), readonly_paths=()), False),
        ("fork + confine (default: mount/ipc/uts/cgroup ns, /tmp, hide, ro code, hidepid, uid, seccomp)", env(), False),
        ("  + join an existing cgroup", env(cgroup_procs=shared.procs_files), False),
        ("  + create/destroy a cgroup per environment", env(), True),
        ("  + pid namespace (double fork)", env(pid_namespace=True), False),
        ("  + network namespace", env(namespaces=("mount", "ipc", "uts", "cgroup", "net")), False),
    ]
    cf.warm()
    measure(20, lambda i: None)  # warm up
    results = []
    try:
        for name, make, per_env in variants:
            ready, total, refused = measure(args.n, make, per_env_cgroup=per_env)
            results.append((name, ready, total, refused))
    finally:
        shared.destroy(remove_parent_if_empty=True)
        shutil.rmtree(base, ignore_errors=True)

    base_ready = statistics.median(results[0][1])
    base_total = statistics.median(results[0][2])
    print(f"n={args.n} per variant, parent {'with boto3 imported (zygote-like)' if not args.no_zygote else 'bare'}; ms")
    print(f"{'variant':<100} {'ready p50':>9} {'p90':>6} {'x plain':>8} {'total p50':>9} {'p90':>6} {'x plain':>8}")
    for name, ready, total, refused in results:
        r50, t50 = statistics.median(ready), statistics.median(total)
        note = f"  ({len(refused)} runs with refusals)" if refused else ""
        print(f"{name:<100} {r50:9.2f} {p(ready, .9):6.2f} {r50 / base_ready:8.2f} {t50:9.2f} {p(total, .9):6.2f} "
              f"{t50 / base_total:8.2f}{note}")
    t = time.perf_counter()
    for _ in range(50):
        cg.EnvCgroup.create(f"cost-cg-{uuid.uuid4().hex[:10]}", 128).destroy(remove_parent_if_empty=True)
    print(f"EnvCgroup.create + destroy alone: {(time.perf_counter() - t) / 50 * 1000:.2f} ms")

    # Launchers that exec (Node, provided, the exec fallback): the wrapper from exec_argv.
    def spawn(argv: list[str], n: int) -> float:
        xs = []
        for _ in range(n):
            t0 = time.perf_counter()
            rc = subprocess.run(argv).returncode
            xs.append((time.perf_counter() - t0) * 1000)
            assert rc == 0, argv
        return statistics.median(xs)

    n = max(10, args.n // 4)
    full = env()(0)
    plain = spawn(["/bin/true"], n)
    interp = spawn([sys.executable, "-I", "-S", "-c", "pass"], n)
    wrapped = spawn(cf.exec_argv(full.replace(code_dir=None, hide=()), ["/bin/true"]), n)
    print(f"exec launchers (spawn + exit, p50): /bin/true {plain:.2f} ms; python -I -S -c pass {interp:.2f} ms; "
          f"exec_argv(confine) -> /bin/true {wrapped:.2f} ms (+{wrapped - plain:.2f} ms)")


if __name__ == "__main__":
    main()
