"""Median wall time of `wizard export` on the example answers, against `python -c "import yaml"`
measured in the same run (issue target: at most 3x). Run: .venv/bin/python bench/export_speed.py"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 3.0


# As installed: pip compiles a wheel's modules to bytecode, so they are not compiled on every run.
# An editable checkout with PYTHONDONTWRITEBYTECODE set (as on these machines) would compile the
# wizard's own sources on every start, and measure the compiler instead of the wizard.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = [sys.executable, "-m", "wizard", "export", "--answers", "examples/answers.yaml", "--dir", tmp]
        subprocess.run(export, check=True, capture_output=True, cwd=REPO, env=ENV)  # first write, bytecode
        baseline = median_seconds([sys.executable, "-c", "import yaml"], args.runs)
        fresh = tempfile.mkdtemp(dir=tmp)
        wizard = median_seconds(export, args.runs)
        first = median_seconds([*export[:-1], fresh], 1)
    ratio = wizard / baseline
    print(f"python -c 'import yaml'   median {baseline * 1000:7.1f} ms")
    print(f"wizard export (re-export) median {wizard * 1000:7.1f} ms")
    print(f"wizard export (first)            {first * 1000:7.1f} ms")
    print(f"ratio {ratio:.2f}x (target at most {TARGET:.1f}x): {'ok' if ratio <= TARGET else 'OVER TARGET'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
