"""Run every benchmark in bench/ in turn (files starting with `_`, common.py and this one are not).

Each script runs with this interpreter and its defaults, with a time limit; a failing script is
reported and the others still run. Exits non-zero if any failed.

Run: .venv/bin/python bench/run_all.py [--only NAME ...] [--timeout SECONDS]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"run_all.py", "common.py"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="script names to run (e.g. invoke cold)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before a script is stopped (default 300)")
    args = ap.parse_args()
    scripts = [p for p in sorted(HERE.glob("*.py")) if p.name not in NOT_BENCHMARKS and not p.name.startswith("_")]
    if args.only:
        wanted = {n.removesuffix(".py") for n in args.only}
        scripts = [p for p in scripts if p.stem in wanted]
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        t0 = time.monotonic()
        try:
            rc = subprocess.run([sys.executable, str(script)], cwd=HERE, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        if rc != 0:
            failed.append(f"{script.name} ({rc})")
        print(f"-- {script.name}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.monotonic() - t0:.0f} s", flush=True)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
