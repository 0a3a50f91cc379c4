"""The session's answers where no install has run: `install --dry-run` with the cluster's API not
answering says so and exits 3 (and still lists what a run would do); `verify` stops asking once the
API does not answer, and on a cluster with nothing installed answers in seconds, not minutes
(its checks do not wait out a deadline); an unknown `--skip-check` name is refused for every
command that takes it.

Real: the session's control plane (tests/realkube), the fault proxy in front of it (stopped, to
make the API unreachable), helm and kubectl, the CLI as a process. It cannot show a real cluster's
slowness: the checks here fail because nothing is installed."""

from __future__ import annotations

import re
import time

from tests.wizard_process import example_answers, run_wizard


def exported(env: dict, tmp_path) -> object:
    directory = tmp_path / "setup"
    done = run_wizard(env, directory, "export", "--answers", str(example_answers(tmp_path)))
    assert done.returncode == 0, done.stderr
    return directory


def test_dry_run_without_a_reachable_api_says_so_exits_3_and_lists_what_would_run(tmp_path, fault_proxy,
                                                                                   fault_proxy_env):
    directory = exported(fault_proxy_env, tmp_path)
    fault_proxy.stop()  # nothing listens on its port any more: the API does not answer
    dry = run_wizard(fault_proxy_env, directory, "install", "--dry-run", "--timeout", "300", timeout=120)
    out = dry.stdout + dry.stderr
    assert dry.returncode == 3, out[-3000:]
    assert "preflight refused" in out and "api-reachable" in out, out[-3000:]
    assert "helm upgrade --install" in out, "what a run would do once the API answers"
    assert re.search(r"^  preflight +would fail: api-reachable", out, re.M), out[-3000:]


def test_verify_stops_once_the_api_does_not_answer(tmp_path, fault_proxy, fault_proxy_env):
    directory = exported(fault_proxy_env, tmp_path)
    fault_proxy.stop()
    started = time.monotonic()
    verified = run_wizard(fault_proxy_env, directory, "verify", "--timeout", "300", timeout=120)
    took = time.monotonic() - started
    out = verified.stdout + verified.stderr
    assert verified.returncode == 1, out[-3000:]
    assert out.count("does not answer") + out.count("could not be reached") <= 2, out[-3000:]
    assert "not checked: storage" in out and "endpoints" in out.split("not checked:")[1], out[-3000:]
    assert took < 60, took


def test_verify_on_an_empty_cluster_answers_in_seconds(tmp_path, real_kube_env):
    """Nothing installed: every stage's check fails at once instead of waiting --timeout (300 s)."""
    directory = exported(real_kube_env, tmp_path)
    started = time.monotonic()
    verified = run_wizard(real_kube_env, directory, "verify", "--timeout", "300", timeout=170)
    took = time.monotonic() - started
    out = verified.stdout + verified.stderr
    assert verified.returncode == 1, out[-3000:]
    assert "[storage] failed" in out and "[binderhub] failed" in out, out[-3000:]
    assert took < 60, (took, out[-2000:])


def test_an_unknown_skip_check_is_refused_for_every_command_naming_the_checks(tmp_path, real_kube_env):
    directory = exported(real_kube_env, tmp_path)
    for command in (["install", "--yes"], ["install", "--dry-run"], ["verify"]):
        run = run_wizard(real_kube_env, directory, *command, "--skip-check", "dsn")
        assert run.returncode == 2, (command, run.stdout[-2000:], run.stderr[-2000:])
        assert "--skip-check dsn: no such check" in run.stderr and "public-ip-free" in run.stderr, run.stderr
        assert "swap" in run.stderr, "the host checks are named too"
    assert not (directory / "state.json").exists() or "running" not in (directory / "state.json").read_text()
