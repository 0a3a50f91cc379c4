#!/usr/bin/env python3
"""Keep the Keycloak access token of a BinderHub user server fresh (the original
notes' "scheduler"), without the Keycloak client secret ever entering the pod.

The hub refreshes tokens itself (oauthenticator's refresh_user, see hub_pass_tokens.py).
This loop asks the hub for the user's auth_state with the server's own
JUPYTERHUB_API_TOKEN and writes the current access token to ~/.keycloak/access_token
(dir 0700, file 0600, atomic replace) plus ~/.keycloak/access_token.json with its
expiry only. Every such request also makes the hub run refresh_user when the user's
auth info is older than Authenticator.auth_refresh_age.

Endpoint: GET $JUPYTERHUB_API_URL/users/$JUPYTERHUB_USER. Not /user: in JupyterHub
5.3 the self endpoint (SelfAPIHandler) always answers "auth_state": null; only
UserAPIHandler fills it in. The token needs `admin:auth_state!user`, which must be
in BOTH hub.loadRoles.server.scopes and hub.loadRoles.user.scopes: a server token only
gets the requested scopes that its owner also holds.

Stdlib only: it runs inside arbitrary repo2docker images. It never prints a token;
it logs status codes and times. Environment:
  JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN, JUPYTERHUB_USER  set by JupyterHub
  KC_TOKEN_REFRESH_INTERVAL  seconds between polls (default 60)
  KC_TOKEN_DIR               default ~/.keycloak
Exit codes with --once: 0 written, 1 hub unreachable/HTTP error, 2 misconfigured,
3 no auth_state/token in the answer.
"""

import argparse
import fcntl
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_INTERVAL = 60
MIN_SLEEP = 15  # never poll the hub faster than this
MAX_BACKOFF = 600


def log(msg):
    # stderr, one line, timestamped; callers never pass token material
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print(f"{stamp} token-refresher: {msg}", file=sys.stderr, flush=True)


class HubError(Exception):
    """Failure talking to the hub; carries a loggable, token-free reason."""

    def __init__(self, reason, exit_code=1):
        super().__init__(reason)
        self.reason = reason
        self.exit_code = exit_code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would re-send the Authorization header to wherever a redirect points
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch_auth_state(api_url, api_token, user, timeout=10):
    url = f"{api_url.rstrip('/')}/users/{urllib.parse.quote(user, safe='')}"
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    req.add_unredirected_header("Authorization", f"token {api_token}")
    try:
        with _opener.open(req, timeout=timeout) as resp:
            status = resp.status
            body = resp.read()
    except urllib.error.HTTPError as e:
        hint = ""
        if e.code == 403:
            hint = " (hub login expired and refresh failed, or token lacks scopes)"
        raise HubError(f"hub answered HTTP {e.code}{hint}") from None
    except (urllib.error.URLError, OSError) as e:
        raise HubError(f"hub unreachable ({type(e).__name__})") from None
    try:
        model = json.loads(body)
    except ValueError:
        raise HubError(f"hub answered HTTP {status} with invalid JSON") from None
    auth_state = model.get("auth_state") if isinstance(model, dict) else None
    if not isinstance(auth_state, dict) or not auth_state.get("access_token"):
        raise HubError(
            f"hub answered HTTP {status} without auth_state/access_token: the server "
            "token needs admin:auth_state!user in the server AND user roles, and "
            "Authenticator.enable_auth_state must be true",
            exit_code=3,
        )
    return status, auth_state


def _write_atomic(directory, name, data):
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        os.fchmod(fd, 0o600)  # mkstemp creates 0600 already; be explicit
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def ensure_dir(directory):
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)  # makedirs' mode is masked by umask / ignored if present


def write_token(directory, auth_state):
    ensure_dir(directory)
    token = auth_state["access_token"]
    expires_at = (auth_state.get("token_response") or {}).get("expires_at")
    if not isinstance(expires_at, (int, float)) or isinstance(expires_at, bool):
        expires_at = None
    _write_atomic(directory, "access_token", token)
    meta = {"expires_at": expires_at, "fetched_at": int(time.time())}
    _write_atomic(directory, "access_token.json", json.dumps(meta) + "\n")
    return expires_at


def next_sleep(interval, expires_at, now=None):
    """Poll at the interval, sooner if the token dies before that (the hub refreshes
    it on our request once it is inside its refresh margin)."""
    now = time.time() if now is None else now
    delay = interval
    if expires_at is not None:
        delay = min(delay, expires_at - now - 30)
    return max(MIN_SLEEP, delay)


def acquire_lock(directory):
    """One refresher per home: a second copy exits. flock dies with the process."""
    ensure_dir(directory)
    f = open(os.path.join(directory, "refresher.lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="fetch once and exit")
    parser.add_argument("--pidfile", help="write our pid here while running")
    args = parser.parse_args(argv)

    api_url = os.environ.get("JUPYTERHUB_API_URL")
    api_token = os.environ.get("JUPYTERHUB_API_TOKEN")
    user = os.environ.get("JUPYTERHUB_USER")
    if not (api_url and api_token and user):
        log("JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN and JUPYTERHUB_USER are required")
        return 2
    try:
        interval = int(os.environ.get("KC_TOKEN_REFRESH_INTERVAL", DEFAULT_INTERVAL))
    except ValueError:
        interval = DEFAULT_INTERVAL
    interval = max(MIN_SLEEP, interval)
    directory = os.environ.get("KC_TOKEN_DIR") or os.path.join(
        os.path.expanduser("~"), ".keycloak"
    )

    if args.once:
        try:
            status, auth_state = fetch_auth_state(api_url, api_token, user)
            expires_at = write_token(directory, auth_state)
        except HubError as e:
            log(e.reason)
            return e.exit_code
        except OSError as e:
            log(f"cannot write token file ({type(e).__name__})")
            return 1
        log(f"hub answered HTTP {status}; token file updated{_expiry(expires_at)}")
        return 0

    lock = acquire_lock(directory)
    if lock is None:
        log("another refresher holds the lock; exiting")
        return 0
    stop = threading.Event()
    # not SIGHUP: start-background.sh detaches us with nohup on purpose
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.pidfile:
        _write_atomic(os.path.dirname(os.path.abspath(args.pidfile)) or ".",
                      os.path.basename(args.pidfile), f"{os.getpid()}\n")
    log(f"started, polling every {interval} s")
    failures = 0
    try:
        while not stop.is_set():
            try:
                status, auth_state = fetch_auth_state(api_url, api_token, user)
                expires_at = write_token(directory, auth_state)
            except (HubError, OSError) as e:
                failures += 1
                reason = e.reason if isinstance(e, HubError) else type(e).__name__
                delay = min(MAX_BACKOFF, MIN_SLEEP * 2 ** min(failures - 1, 10))
                log(f"{reason}; retry in {delay} s (failure {failures})")
            else:
                failures = 0
                delay = next_sleep(interval, expires_at)
                log(f"hub answered HTTP {status}; token file updated{_expiry(expires_at)}")
            stop.wait(delay)
    finally:
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except FileNotFoundError:
                pass
        lock.close()
    log("stopped")
    return 0


def _expiry(expires_at):
    if expires_at is None:
        return ""
    return f", expires in {int(expires_at - time.time())} s"


if __name__ == "__main__":
    sys.exit(main())
