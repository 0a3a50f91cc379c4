"""A local stand-in for BinderHub's build endpoint, the hub's REST API and a launched server, for
the launch check's tests (tests/test_launch*.py). Not a test module.

The event stream speaks what BinderHub's `BuildHandler` writes, read in jupyterhub/binderhub at
commit b9fad995d5529e487c25a9f0795f4fe150a96f25 (binderhub/builder.py):
- `emit(data)`: `data: {json.dumps(data)}\\n\\n`, content-type text/event-stream;
- `keep_alive()`: the comment line `:keepalive\\n\\n` every 25 s;
- first `{"phase": "waiting", "message": "Waiting for build to start...\\n"}`, then repo2docker's own
  JSON log lines as they are (phases fetching, building, pushing, and "failure" on a failed build,
  after which BinderHub launches nothing and keeps the stream open for 60 s);
- `{"phase": "built", "imageName": ..., "message": "Built image, launching...\\n"}` (or "Found built
  image, launching..." when the registry has it);
- `launch()`: `{"phase": "launching", "message": "Launching server...\\n"}` and one launching event per
  spawn progress message; then `{"phase": "ready", "message": "server running at URL\\n"}` updated
  with the launcher's data (binderhub/launcher.py `launch`): url, token, image, repo_url, and the
  binder_* extra args;
- an exception in the handler: `send_error` writes one `{"phase": "failed", "status_code": 500,
  "message": ...}` and finishes.
tests/test_launch.py reads that source file from the mirror when it is there and checks these
shapes against it.

The hub API answers the calls the check makes (POST/DELETE /hub/api/users/NAME, POST
.../tokens, DELETE .../server and .../servers/NAME) and enforces the scopes of the token used,
expanded with JupyterHub's own `jupyterhub.scopes.expand_scopes`, filters `!user=NAME` included.
What it cannot show: a real build, a real spawn, the real hub's timing.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

SERVER_NAME = "binder-examples-requirements-abc12345"  # what BinderHub's unique_name_from_repo makes


def success_script(step: float = 0.0, built: bool = False) -> list[tuple[float, dict]]:
    """(seconds to wait before, event) as BinderHub sends them for a build that works."""
    image = "registry.example.org/binder/r2d-binder-2dexamples-2drequirements-abc123:f00d"
    if built:
        return [(step, {"phase": "built", "imageName": image, "message": "Found built image, launching...\n"}),
                (step, {"phase": "launching", "message": "Launching server...\n"}),
                (step, {"phase": "ready"})]
    return [
        (step, {"phase": "waiting", "message": "Waiting for build to start...\n"}),
        (step, {"phase": "fetching", "message": "Picked Git content provider.\n"}),
        (step, {"phase": "building", "message": "Building conda environment\n"}),
        (step, {"phase": "building", "message": "Step 3/10 : RUN pip install -r requirements.txt\n"}),
        (step, {"phase": "pushing", "message": "Pushing image\n", "progress": {"layer": {"current": 1, "total": 2}}}),
        (step, {"phase": "built", "imageName": image, "message": "Built image, launching...\n"}),
        (step, {"phase": "launching", "message": "Launching server...\n"}),
        (step, {"phase": "launching", "message": "Server requested\n"}),
        (step, {"phase": "ready"}),  # completed by the stand-in with url, token, image
    ]


def build_failure_script() -> list[tuple[float, dict]]:
    return success_script()[:4] + [
        (0.0, {"phase": "failure", "message": "ERROR: Could not find a version that satisfies numpy==0.0.1\n"})]


def launch_failure_script() -> list[tuple[float, dict]]:
    return success_script()[:7] + [
        (0.0, {"phase": "failed", "status_code": 500,
               "message": "Image registry.example.org/binder/r2d-abc:f00d for user x took too long to launch\n"})]


@dataclass
class HubState:
    service_token: str
    service_scopes: list[str]
    users: dict[str, dict] = field(default_factory=dict)         # name -> {"servers": {name: url}}
    tokens: dict[str, tuple[str, list[str]]] = field(default_factory=dict)   # token -> (user, scopes)
    calls: list[str] = field(default_factory=list)
    launch_tokens: dict[str, str] = field(default_factory=dict)  # server token -> server path


class BinderHubStandin:
    """BinderHub, the hub API and the launched server on one local port. `login`: BinderHub needs a
    user token with access to the binder service (Keycloak login); `named_servers`: a logged-in
    user's launch is a named server, as BinderHub's launcher does with allow_named_servers."""

    def __init__(self, service_token: str, service_scopes: list[str], *, login: bool = False,
                 named_servers: bool = True, script: list[tuple[float, dict]] | None = None,
                 hold_open: float = 0.0, keepalive: float | None = None, kernels_status: int = 200,
                 prefix: str = "") -> None:
        self.hub = HubState(service_token, list(service_scopes))
        self.login = login
        self.named_servers = named_servers
        self.script = script if script is not None else success_script()
        self.hold_open = hold_open         # BinderHub keeps a failed build's stream open (60 s)
        self.keepalive = keepalive         # seconds between :keepalive comments
        self.kernels_status = kernels_status
        self.prefix = prefix               # the hub's base URL path ("/jupyter/" for profile local)
        self.sent: list[dict] = []
        self.stream_seconds = 0.0          # how long the last stream took to reach its end
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                standin._get(self)

            def do_POST(self):  # noqa: N802
                standin._hub(self, "POST")

            def do_DELETE(self):  # noqa: N802
                standin._hub(self, "DELETE")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # lifecycle
    def start(self) -> "BinderHubStandin":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # helpers
    def _token(self, handler) -> str:
        header = handler.headers.get("Authorization", "")
        return header[len("token "):] if header.startswith("token ") else ""

    def _reply(self, handler, status: int, body=None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def allowed(self, token: str, scope: str, user: str) -> bool:
        """As JupyterHub's needs_scope: the token's expanded scopes hold `scope` whole or `!user=user`."""
        from jupyterhub.scopes import expand_scopes

        if token == self.hub.service_token:
            held = expand_scopes(set(self.hub.service_scopes))
        elif token in self.hub.tokens:
            held = expand_scopes(set(self.hub.tokens[token][1]))
        else:
            return False
        return scope in held or f"{scope}!user={user}" in held

    # BinderHub and the launched server
    def _get(self, handler) -> None:
        path = urlsplit(handler.path).path
        match = re.fullmatch(r"/build/gh/([^/]+)/([^/]+)/(.+)", path)
        if match:
            return self._build(handler, f"{match[1]}/{match[2]}", unquote(match[3]))
        match = re.search(r"/user/([^/]+)/(?:([^/]+)/)?api/kernels$", path)
        if match:
            token = self._token(handler)
            if self.hub.launch_tokens.get(token) != path[: -len("api/kernels")]:
                return self._reply(handler, 403, {"message": "Forbidden"})
            return self._reply(handler, self.kernels_status, [] if self.kernels_status == 200 else None)
        self._reply(handler, 404, {"message": "Not Found"})

    def _build(self, handler, repo: str, ref: str) -> None:
        token = self._token(handler)
        user = f"{repo.replace('/', '-')}-{secrets.token_hex(4)}"
        server = ""
        if self.login:
            owner = self.hub.tokens.get(token)
            if owner is None or "access:services!service=binder" not in owner[1]:
                return self._reply(handler, 403, {"message": "Forbidden"})
            user = owner[0]
            server = SERVER_NAME if self.named_servers else ""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        started = time.monotonic()
        try:
            for delay, event in self.script:
                self._wait(handler, delay)
                event = dict(event)
                if event["phase"] == "launching" and not self.login and user not in self.hub.users:
                    self.hub.users[user] = {"servers": {}}  # the launcher creates the throwaway user
                if event["phase"] == "ready":
                    url = f"{self.url}{self.prefix.lstrip('/')}user/{user}/" + (f"{server}/" if server else "")
                    server_token = secrets.token_urlsafe(16)
                    self.hub.users.setdefault(user, {"servers": {}})["servers"][server] = url
                    self.hub.launch_tokens[server_token] = urlsplit(url).path
                    event.update({"message": f"server running at {url}\n", "url": url, "token": server_token,
                                  "image": "r2d-image", "repo_url": f"https://github.com/{repo}"})
                self.sent.append(event)
                handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                handler.wfile.flush()
            self.stream_seconds = time.monotonic() - started
            self._wait(handler, self.hold_open)
        except (BrokenPipeError, ConnectionResetError):
            self.stream_seconds = time.monotonic() - started

    def _wait(self, handler, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.keepalive:
                time.sleep(min(left, self.keepalive))
                if end - time.monotonic() > 0:
                    handler.wfile.write(b":keepalive\n\n")
                    handler.wfile.flush()
            else:
                time.sleep(left)

    # the hub's REST API
    def _hub(self, handler, method: str) -> None:
        path = urlsplit(handler.path).path
        base = f"{self.prefix.rstrip('/')}/hub/api/"
        if not path.startswith(base):
            return self._reply(handler, 404, {"message": "Not Found"})
        rest = path[len(base):]
        token = self._token(handler)
        self.hub.calls.append(f"{method} {rest}")
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"null") if length else None
        parts = [unquote(p) for p in rest.split("/")]
        if parts[0] != "users" or len(parts) < 2:
            return self._reply(handler, 404, {"message": "Not Found"})
        user = parts[1]
        users = self.hub.users
        if method == "POST" and len(parts) == 2:
            if not self.allowed(token, "admin:users", user):
                return self._reply(handler, 403, {"message": "Action is not authorized with current scopes"})
            if user in users:
                return self._reply(handler, 409, {"message": f"User {user} already exists"})
            users[user] = {"servers": {}}
            return self._reply(handler, 201, {"name": user})
        if method == "POST" and parts[2:] == ["tokens"]:
            if not self.allowed(token, "tokens", user) or user not in users:
                return self._reply(handler, 403, {"message": "no permissions to generate tokens"})
            new = secrets.token_hex(16)
            self.hub.tokens[new] = (user, list((body or {}).get("scopes") or []))
            return self._reply(handler, 201, {"token": new, "expires_in": (body or {}).get("expires_in")})
        if method == "DELETE" and len(parts) == 2:
            if not self.allowed(token, "delete:users", user):
                return self._reply(handler, 403, {"message": "Action is not authorized with current scopes"})
            if user not in users:
                return self._reply(handler, 404, None)
            del users[user]
            self.hub.tokens = {k: v for k, v in self.hub.tokens.items() if v[0] != user}
            return self._reply(handler, 204, None)
        if method == "DELETE" and parts[2:3] in (["server"], ["servers"]):
            if not self.allowed(token, "delete:servers", user):
                return self._reply(handler, 403, {"message": "Action is not authorized with current scopes"})
            server = parts[3] if parts[2] == "servers" and len(parts) > 3 else ""
            if user not in users or server not in users[user]["servers"]:
                return self._reply(handler, 404, None)
            del users[user]["servers"][server]
            return self._reply(handler, 204, None)
        self._reply(handler, 404, {"message": "Not Found"})
