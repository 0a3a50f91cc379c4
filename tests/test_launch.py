"""The launch check (wizard/launch.py) against a local stand-in BinderHub and hub API
(tests/binderhub_standin.py), which speaks BinderHub's event stream and enforces the hub's scopes
with JupyterHub's own scope expansion. What these cannot show: a real build and spawn (the e2e
workflow does, .github/workflows/e2e.yml)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.binderhub_standin import (SERVER_NAME, BinderHubStandin, build_failure_script, launch_failure_script,
                                     success_script)
from wizard.launch import CHECK_USER, Http, LaunchCheck, LaunchFailed, Target, read_events
from wizard.render.values import launch_check_scopes
from wizard.settings import load_answers

BINDERHUB_MIRROR = Path("/work/.mirror/jupyterhub+binderhub/repo")
BINDERHUB_COMMIT = "b9fad995d5529e487c25a9f0795f4fe150a96f25"
TOKEN = "service-token-0123456789abcdef"


def scopes(auth: str) -> list[str]:
    raw = {"profile": "local", "network": {"public_ip": "203.0.113.10"}, "registry": {"type": "none"},
           "auth": {"type": auth}}
    if auth == "keycloak":
        raw["auth"] = {"type": "keycloak", "keycloak_url": "https://sso.example.org", "realm": "r",
                       "client_secret": "s3cret-value", "allow_all": True}
    result = load_answers(raw)
    assert result.ok, result.problems
    return launch_check_scopes(result.settings)


def check(standin: BinderHubStandin, *, login: bool, timeout: float = 30, **kwargs) -> LaunchCheck:
    target = Target(standin.url, standin.url, "binder-examples/requirements", "HEAD", TOKEN, login, timeout)
    return LaunchCheck(target, Http(timeout=10), **kwargs)


def test_anonymous_launch_reaches_ready_opens_the_server_and_removes_the_user():
    """Every phase is seen in order, the server's kernel list is read with the ready event's
    token, and the throwaway user BinderHub made is gone afterwards (its server stopped first)."""
    seen = []
    with BinderHubStandin(TOKEN, scopes("none")) as standin:
        report = check(standin, login=False, on_event=lambda event, new: seen.append((event.phase, new))).run()
        assert standin.hub.users == {}
        calls = standin.hub.calls
    phases = [phase for phase, new in seen if new]
    assert phases == ["waiting", "fetching", "building", "pushing", "built", "launching", "ready"]
    assert report.kernels == 0 and report.cleaned
    assert set(report.spans) == {"build", "push", "launch"}
    assert calls[0].startswith("DELETE users/binder-examples-requirements-") and calls[0].endswith("/server")
    assert calls[1].startswith("DELETE users/binder-examples-requirements-")
    assert report.summary().startswith("ready in ") and "its server answered" in report.summary()


def test_with_login_the_check_makes_its_user_and_token_with_the_service_and_removes_them():
    """Keycloak login: the service's scopes (as rendered) are enough to create launch-check, give it
    a token BinderHub accepts, stop its named server and delete it; nothing else is asked."""
    with BinderHubStandin(TOKEN, scopes("keycloak"), login=True) as standin:
        report = check(standin, login=True).run()
        assert standin.hub.users == {} and standin.hub.tokens == {}
        calls = standin.hub.calls
    assert calls == [f"POST users/{CHECK_USER}", f"POST users/{CHECK_USER}/tokens",
                     f"DELETE users/{CHECK_USER}/servers/{SERVER_NAME}", f"DELETE users/{CHECK_USER}"]
    assert report.server_url.endswith(f"/user/{CHECK_USER}/{SERVER_NAME}/")


def test_the_login_scopes_reach_no_other_user():
    """The keycloak role is filtered to the one user: the stand-in (JupyterHub's scope expansion)
    refuses the same calls for another name, so the check fails at login, saying the hub refused."""
    other = [scope.replace(f"!user={CHECK_USER}", "!user=alice") for scope in scopes("keycloak")]
    with BinderHubStandin(TOKEN, other, login=True) as standin:
        with pytest.raises(LaunchFailed) as failure:
            check(standin, login=True).run()
    assert failure.value.phase == "login"
    assert "the hub refused to create the throwaway user: HTTP 403" in failure.value.problem


def test_a_failed_build_reports_its_phase_last_events_and_cause_without_waiting_for_the_stream():
    """repo2docker's `failure` line ends the check at once (BinderHub holds the stream open 60 s),
    with the phase it failed in, the last events, and the explain callable's cause."""
    explained = []

    def explain(failure):
        explained.append(failure.phase)
        return "the requirements pin a version that does not exist"

    with BinderHubStandin(TOKEN, scopes("none"), script=build_failure_script(), hold_open=30) as standin:
        started = time.monotonic()
        with pytest.raises(LaunchFailed) as failure:
            check(standin, login=False, explain=explain).run()
        took = time.monotonic() - started
    assert took < 5
    report = failure.value.report()
    assert failure.value.phase == "building" and explained == ["building"]
    assert "numpy==0.0.1" in report and "last events:" in report and "fetching:" in report
    assert report.endswith("cause: the requirements pin a version that does not exist\n")


def test_a_failed_launch_is_reported_in_the_launching_phase_and_the_user_is_removed():
    with BinderHubStandin(TOKEN, scopes("keycloak"), login=True, script=launch_failure_script()) as standin:
        with pytest.raises(LaunchFailed) as failure:
            check(standin, login=True).run()
        assert standin.hub.users == {}
    assert failure.value.phase == "launching"
    assert "took too long to launch" in failure.value.problem


@pytest.mark.parametrize("keepalive", [0.2, None], ids=["keepalives", "silent"])
def test_no_ready_within_the_timeout_fails_with_the_phase_reached(keepalive):
    """Keepalives keep the connection busy but are no progress, and a silent stream sends nothing
    at all: either way the check's own deadline ends it, not the socket's 60 s."""
    script = success_script()[:3] + [(30.0, {"phase": "building", "message": "never"})]
    with BinderHubStandin(TOKEN, scopes("none"), script=script, keepalive=keepalive) as standin:
        started = time.monotonic()
        with pytest.raises(LaunchFailed) as failure:
            check(standin, login=False, timeout=1.5).run()
        assert time.monotonic() - started < 5
    assert "no `ready` within 2 s" in failure.value.problem and failure.value.phase == "building"


def test_a_server_that_does_not_answer_fails_the_check():
    with BinderHubStandin(TOKEN, scopes("none"), kernels_status=503) as standin:
        with pytest.raises(LaunchFailed) as failure:
            check(standin, login=False).run()
        assert standin.hub.users == {}
    assert "api/kernels answered HTTP 503" in failure.value.problem


def test_the_stream_parser_skips_keepalives_and_joins_split_events():
    lines = [b":keepalive\n", b"\n", b'data: {"phase": "waiting",\n', b'data: "message": "x"}\n', b"\r\n",
             b"event: ignored\n", b"data: not json\n", b"\n", b'data: {"phase": "ready"}']
    assert list(read_events(lines)) == [{"phase": "waiting", "message": "x"},
                                        {"phase": "unknown", "message": "not json"}, {"phase": "ready"}]


def _binderhub_source(path: str) -> str:
    if not BINDERHUB_MIRROR.exists():
        pytest.skip("no mirror of jupyterhub/binderhub on this machine")
    return subprocess.run(["git", "-C", str(BINDERHUB_MIRROR), "show", f"{BINDERHUB_COMMIT}:{path}"],
                          capture_output=True, text=True, check=True).stdout


def test_the_standin_speaks_the_event_format_of_binderhubs_build_handler():
    """The shapes the stand-in sends are those binderhub/builder.py writes (at the commit named in
    the stand-in's docstring): the framing, the keepalive comment, and every phase it emits."""
    builder = _binderhub_source("binderhub/builder.py")
    assert 'self.write(f"data: {serialized_data}\\n\\n")' in builder
    assert 'self.write(":keepalive\\n\\n")' in builder
    assert '"content-type", "text/event-stream"' in builder
    for phase in ("waiting", "built", "launching", "ready", "failed"):
        assert f'"phase": "{phase}"' in builder, phase
    assert 'payload.get("phase") in ("failure", "failed")' in builder  # repo2docker's failure ends the build
    assert "event.update(server_info)" in builder                       # ready carries the launcher's data
    launcher = _binderhub_source("binderhub/launcher.py")
    assert '"token": base64.urlsafe_b64encode' in launcher and 'data["url"] = self.hub_url + f"user/' in launcher
    sent = {event["phase"] for _delay, event in success_script() + build_failure_script() + launch_failure_script()}
    assert sent <= {"waiting", "fetching", "building", "pushing", "built", "launching", "ready", "failed", "failure"}


def test_the_stage_shows_phases_as_notes_and_fails_as_a_check(tmp_path):
    """The stage's check through a context: profile local's URLs (hub under /jupyter/) reached with
    --resolve, a note per phase, the phase times in the last note; a failure is a CheckFailed naming
    the phase."""
    from wizard.context import CheckFailed
    from wizard.launch import run_check

    raw = {"profile": "local", "network": {"public_ip": "203.0.113.10"}, "registry": {"type": "none"},
           "auth": {"type": "none"}, "launch": {"timeout": 60}}
    settings = load_answers(raw).settings
    notes = []

    def ctx_for(standin):
        return SimpleNamespace(settings=settings, stored_secrets={"generated.launch_check_token": TOKEN},
                               options=SimpleNamespace(resolve={"203.0.113.10": f"127.0.0.1:{standin.port}"},
                                                       ca_bundle=None),
                               notify=lambda stage, message: notes.append((stage, message)),
                               cancel=SimpleNamespace(is_set=lambda: False))

    with BinderHubStandin(TOKEN, scopes("none"), prefix="/jupyter/") as standin:
        standin.url = "http://203.0.113.10/"  # what BinderHub's hub_url is: the public address
        report = run_check(ctx_for(standin))
        assert standin.hub.users == {}
    messages = [m for _s, m in notes]
    assert any("building:" in m for m in messages) and any("pushing:" in m for m in messages)
    assert messages[-1] == report.summary() and "build " in messages[-1] and "push " in messages[-1]
    with BinderHubStandin(TOKEN, scopes("none"), prefix="/jupyter/", script=build_failure_script()) as standin:
        with pytest.raises(CheckFailed) as failed:
            run_check(ctx_for(standin))
    assert failed.value.check == "launch" and "(phase building)" in failed.value.problem


def test_verify_leaves_the_launch_out_unless_asked_and_runs_it_when_asked_even_if_disabled():
    """`wizard verify` checks the plan without the launch stage; `--launch` adds the stage, whose
    check then launches even in verify's dry-run context, and even with launch.enabled false."""
    from wizard.launch import verify_check, verify_plan
    from wizard.stages import plan

    raw = {"profile": "local", "network": {"public_ip": "203.0.113.10"}, "registry": {"type": "none"},
           "auth": {"type": "none"}}
    on = load_answers(raw).settings
    off = load_answers({**raw, "launch": {"enabled": False}}).settings
    assert [stage.name for stage in plan(on)][-2:] == ["endpoints", "launch"]
    assert "launch" not in [stage.name for stage in plan(off)]
    assert "launch" not in [stage.name for stage in verify_plan(False)(on)]
    for settings in (on, off):
        stages = verify_plan(True)(settings)
        assert stages[-1].name == "launch" and stages[-1].verify is verify_check
        assert stages[-1].needs == ("endpoints",)


def test_the_plans_launch_stage_starts_nothing_in_a_dry_run():
    """The preview (install --dry-run) runs the stage's check read-only: it must not launch."""
    from wizard.stages import plan

    settings = load_answers({"profile": "local", "network": {"public_ip": "203.0.113.10"},
                             "registry": {"type": "none"}, "auth": {"type": "none"}}).settings
    stage = plan(settings)[-1]
    notes = []
    ctx = SimpleNamespace(runner=SimpleNamespace(dry_run=True), notify=lambda stage, message: notes.append(message))
    stage.verify(ctx)  # would fail reaching 203.0.113.10 if it launched
    assert stage.checks_only and stage.skippable and "not run in a dry run" in notes[0]


@pytest.mark.parametrize("path,value,why", [
    ("launch.repository", "binder-examples", "is not ORG/NAME of a GitHub repository"),
    ("launch.repository", "https://github.com/a/b", "is not ORG/NAME of a GitHub repository"),
    ("launch.ref", "../etc", "is not a git branch, tag or commit"),
    ("launch.timeout", 5, "is out of range"),
    ("launch.enabled", "yes", "is not true or false"),
])
def test_bad_launch_answers_are_refused_naming_the_field(path, value, why):
    section, key = path.split(".")
    result = load_answers({"profile": "local", "network": {"public_ip": "203.0.113.10"},
                           "registry": {"type": "none"}, "auth": {"type": "none"}, section: {key: value}})
    assert [(p.path, p.why) for p in result.problems] == [(path, why)]


def test_phase_times_follow_the_stream():
    """build runs from the request to the first `pushing`, push to `built`, launch to `ready`:
    with 0.2 s before each of the nine events, 1.0 s, 0.2 s and 0.6 s."""
    with BinderHubStandin(TOKEN, scopes("none"), script=success_script(0.2)) as standin:
        report = check(standin, login=False).run()
    assert report.spans == pytest.approx({"build": 1.0, "push": 0.2, "launch": 0.6}, abs=0.15)
    assert report.own < 0.5 and report.stream == pytest.approx(1.8, abs=0.2)


def test_wizard_verify_launch_prints_each_phase_and_the_times(tmp_path, monkeypatch, capsys):
    """`wizard verify --launch` through the real CLI and session, with DIR's generated service token
    (secret.yaml) and --resolve to the stand-in; the cluster's stages are left out of the plan
    (no cluster here), so the launch check is what runs. Failure exits 1 naming the phase."""
    import yaml as pyyaml

    from wizard import stages
    from wizard.cli import main
    from wizard.secretstore import read_stored

    answers = tmp_path / "answers.yaml"
    answers.write_text(pyyaml.safe_dump({"profile": "local", "network": {"public_ip": "203.0.113.10"},
                                         "registry": {"type": "none"}, "auth": {"type": "none"}}))
    directory = tmp_path / "setup"
    assert main(["export", "--answers", str(answers), "--dir", str(directory)]) == 0
    token = read_stored(directory)["generated.launch_check_token"]
    monkeypatch.setattr(stages, "plan", lambda settings, bootstrap=False: [])
    for script, code in ((success_script(), 0), (build_failure_script(), 1)):
        with BinderHubStandin(token, scopes("none"), prefix="/jupyter/", script=script) as standin:
            standin.url = "http://203.0.113.10/"
            capsys.readouterr()
            assert main(["verify", "--launch", "--dir", str(directory),
                         "--resolve", f"203.0.113.10:127.0.0.1:{standin.port}"]) == code
            out = capsys.readouterr().out
            assert standin.hub.users == {}
        assert "[launch] asking BinderHub to build and launch binder-examples/requirements@HEAD" in out
        assert re.search(r"\[launch\] +\d+\.\ds fetching: ", out)
        if code == 0:
            assert re.search(r"\[launch\] ready in [\d.]+ s: build [\d.]+ s, push [\d.]+ s, launch [\d.]+ s", out)
            assert "1 of 1 stages pass their checks" in out
        else:
            assert "(phase building)" in out and "last events:" in out
    assert token not in out


def test_a_cancel_stops_a_silent_stream_at_once():
    """Ctrl+C (ctx.cancel) while BinderHub says nothing: the check ends within a second."""
    from wizard.launch import Cancelled

    started = time.monotonic()
    script = success_script()[:2] + [(30.0, {"phase": "building", "message": "never"})]
    with BinderHubStandin(TOKEN, scopes("none"), script=script) as standin:
        with pytest.raises(Cancelled):
            check(standin, login=False, cancelled=lambda: time.monotonic() - started > 0.5).run()
        took = time.monotonic() - started
        assert standin.hub.users == {}
    assert took < 1.5


def test_a_user_left_by_an_interrupted_check_is_removed_before_the_new_launch():
    with BinderHubStandin(TOKEN, scopes("keycloak"), login=True) as standin:
        standin.hub.users[CHECK_USER] = {"servers": {SERVER_NAME: "left over"}}
        check(standin, login=True).run()
        assert standin.hub.users == {}
        calls = standin.hub.calls
    assert calls[:3] == [f"POST users/{CHECK_USER}", f"DELETE users/{CHECK_USER}", f"POST users/{CHECK_USER}"]


def test_a_hub_that_does_not_answer_is_a_launch_failure_not_a_crash():
    """Nothing listens: the login step fails as a LaunchFailed naming the hub, and the clean-up's
    own failure is a note, not an exception that would hide it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    notes = []
    target = Target(url, url, "binder-examples/requirements", "HEAD", TOKEN, True, 5)
    with pytest.raises(LaunchFailed) as failure:
        LaunchCheck(target, Http(timeout=2), on_note=notes.append).run()
    assert failure.value.phase == "login" and failure.value.problem.startswith("the hub did not answer")
    assert notes and "could not remove" in notes[0]
