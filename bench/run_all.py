"""Run every benchmark in bench/ in turn."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
for script in sorted(HERE.glob("*.py")):
    if script.name in {"run_all.py", "common.py"}:
        continue
    print(f"== {script.name}", flush=True)
    subprocess.run([sys.executable, str(script)], cwd=HERE, check=True)
