"""The launch check's own work beyond what BinderHub takes (issue target: under 2 s), measured
against the local stand-in BinderHub and hub API (tests/binderhub_standin.py), with Keycloak login,
the path with the most calls: create the user, its token, follow the stream, read the kernel list,
stop the server, delete the user.

BinderHub's time is the stand-in's scripted delays (one per event, as a build and launch send
them); the check's wall time minus that is its own work. Prints the phase times of one run, then
the median over --runs. Run: .venv/bin/python bench/launch_check.py"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.binderhub_standin import BinderHubStandin, success_script  # noqa: E402
from wizard.launch import Http, LaunchCheck, Target  # noqa: E402

TARGET = 2.0
TOKEN = "bench-service-token"
SCOPES = [f"{scope}!user=launch-check" for scope in ("admin:users", "tokens", "delete:servers")]


def one_run(step: float) -> tuple[float, float, object]:
    script = success_script(step)
    binderhub = sum(delay for delay, _event in script)
    with BinderHubStandin(TOKEN, SCOPES, login=True, script=script) as standin:
        check = LaunchCheck(Target(standin.url, standin.url, "binder-examples/requirements", "HEAD", TOKEN, True, 60),
                            Http(timeout=10))
        started = time.perf_counter()
        report = check.run()
        wall = time.perf_counter() - started
        assert standin.hub.users == {}, "the throwaway user was removed"
    return wall, binderhub, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--step", type=float, default=0.3, help="BinderHub's seconds before each event")
    args = parser.parse_args()
    one_run(0.0)  # imports (JupyterHub's scope expansion in the stand-in), first connections
    wall, binderhub, report = one_run(args.step)
    print("phase times of one run: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report.spans.items()))
    print(f"  {report.summary()}")
    overheads, ratios = [], []
    for _ in range(args.runs):
        wall, binderhub, _report = one_run(args.step)
        overheads.append(wall - binderhub)
        ratios.append(wall / binderhub)
    overhead = statistics.median(overheads)
    print(f"BinderHub (scripted) {binderhub:.2f} s; the check {statistics.median([o + binderhub for o in overheads]):.2f} s; "
          f"its own work {overhead:.3f} s (max {max(overheads):.3f} s), ratio {statistics.median(ratios):.3f}; "
          f"target under {TARGET:.0f} s: {'met' if max(overheads) < TARGET else 'NOT met'}")
    return 0 if max(overheads) < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
