#!/bin/sh
# Start the Keycloak token refresher in the background of a user server.
# Run from the user container's lifecycle.postStart hook, e.g.
#   command: ["sh", "/etc/binderhub-wizard/start-background.sh"]
#
# Kubernetes kills the container when a postStart hook fails, and the container is not
# Ready until the hook returns: so this script detaches quickly and exits 0 when it
# cannot do its job (it logs why to $KC_TOKEN_DIR/start-background.log).
#
# Idempotent: a second run (container restart, a manual re-run) does not start a second
# copy. The pidfile is the fast check; the refresher's own flock on
# $KC_TOKEN_DIR/refresher.lock is the race-free one.
#
# Environment (all optional):
#   KC_SCRIPTS_DIR  where token_refresher.py / supervisord.conf are mounted
#                   (default: this script's directory)
#   KC_REFRESHER, KC_SUPERVISORD_CONF  override the single paths
#   KC_TOKEN_DIR    default $HOME/.keycloak
#   KC_PYTHON       default: python3 (or python) from PATH
#   KC_SUPERVISORD  supervisord binary; set to "" to never use supervisord
set -eu

umask 077
script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
KC_SCRIPTS_DIR=${KC_SCRIPTS_DIR:-$script_dir}
KC_REFRESHER=${KC_REFRESHER:-$KC_SCRIPTS_DIR/token_refresher.py}
KC_SUPERVISORD_CONF=${KC_SUPERVISORD_CONF:-$KC_SCRIPTS_DIR/supervisord.conf}
KC_TOKEN_DIR=${KC_TOKEN_DIR:-${HOME:-/tmp}/.keycloak}
KC_PYTHON=${KC_PYTHON:-$(command -v python3 || command -v python || true)}
KC_SUPERVISORD=${KC_SUPERVISORD-$(command -v supervisord || true)}
export KC_TOKEN_DIR KC_PYTHON KC_REFRESHER

mkdir -p "$KC_TOKEN_DIR"
chmod 700 "$KC_TOKEN_DIR"
logfile=$KC_TOKEN_DIR/start-background.log
refresher_name=$(basename -- "$KC_REFRESHER")
pidfile=$KC_TOKEN_DIR/refresher.pid

log() {
    printf '%s start-background: %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$*" >>"$logfile"
}

# true if the pid in file $1 is a live process whose command line contains $2
# (a stale pidfile on a persistent home could name a reused pid)
alive() {
    [ -s "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null || true)
    case $pid in
        '' | *[!0-9]*) return 1 ;;
    esac
    kill -0 "$pid" 2>/dev/null || return 1
    if [ -r "/proc/$pid/cmdline" ]; then
        tr '\000' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
    fi
    return 0
}

if [ -z "${JUPYTERHUB_API_TOKEN:-}" ] || [ -z "${JUPYTERHUB_API_URL:-}" ]; then
    log "no JupyterHub API token/URL in the environment; not starting the refresher"
    exit 0
fi
if [ -z "$KC_PYTHON" ] || [ ! -r "$KC_REFRESHER" ]; then
    log "python3 or $KC_REFRESHER not found; not starting the refresher"
    exit 0
fi

if alive "$pidfile" "$refresher_name" || alive "$KC_TOKEN_DIR/supervisord.pid" supervisord; then
    log "refresher already running; nothing to do"
    exit 0
fi

# first token right away, so it exists when the user's code starts; failures are
# logged by the refresher (status codes only) and retried by the loop
"$KC_PYTHON" "$KC_REFRESHER" --once >>"$logfile" 2>&1 || true

if [ -n "$KC_SUPERVISORD" ] && [ -x "$KC_SUPERVISORD" ] && [ -r "$KC_SUPERVISORD_CONF" ]; then
    log "starting supervisord"
    # supervisord daemonizes itself and writes supervisord.pid
    if "$KC_SUPERVISORD" -c "$KC_SUPERVISORD_CONF" >>"$logfile" 2>&1; then
        exit 0
    fi
    log "supervisord failed to start; falling back to a detached process"
fi

log "starting the refresher detached"
if command -v setsid >/dev/null 2>&1; then
    nohup setsid "$KC_PYTHON" "$KC_REFRESHER" --pidfile "$pidfile" \
        </dev/null >>"$KC_TOKEN_DIR/refresher.log" 2>&1 &
else
    nohup "$KC_PYTHON" "$KC_REFRESHER" --pidfile "$pidfile" \
        </dev/null >>"$KC_TOKEN_DIR/refresher.log" 2>&1 &
fi
# the refresher writes its own pid (setsid may fork, so $! can be the wrong one);
# wait briefly so that an immediate second run sees it
i=0
while [ "$i" -lt 20 ] && ! alive "$pidfile" "$refresher_name"; do
    sleep 0.1 2>/dev/null || sleep 1
    i=$((i + 1))
done
exit 0
