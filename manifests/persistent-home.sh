#!/bin/sh
# Keep a user's settings across Binder launches (run from lifecycle.postStart).
#
# The user's volume (one claim per user, not per server, so it outlives every launch)
# is mounted at a SUBFOLDER of the home, $HOME/persistent by default: mounted at $HOME
# it would hide the files the repository's image put there. Settings that tools keep
# under $HOME would then be lost with each launch, so this script links a few settings
# folders into the volume:
#     $HOME/<path>  ->  $PERSISTENT_DIR/.home/<path>
#
# It never deletes or moves anything: a path that already exists in the image (a real
# directory, a file, or a symlink of the image's own) is left alone and only logged.
# Re-running is a no-op. Failures are logged, not fatal: a failing postStart hook
# would kill the container.
#
# Environment (optional):
#   PERSISTENT_DIR    where the volume is mounted (default $HOME/persistent)
#   PERSISTENT_LINKS  space-separated paths relative to $HOME to link (default below)
set -eu

: "${HOME:?HOME is not set}"
PERSISTENT_DIR=${PERSISTENT_DIR:-$HOME/persistent}
# JupyterLab settings and workspaces; IPython profile (history.sqlite, startup files)
PERSISTENT_LINKS=${PERSISTENT_LINKS:-.jupyter/lab/user-settings .jupyter/lab/workspaces .ipython/profile_default}

log() {
    printf '%s persistent-home: %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$*" >&2
}

# Only a real, writable directory: no volume mounted means nothing to persist into,
# and a symlink could point anywhere.
if [ ! -d "$PERSISTENT_DIR" ] || [ -L "$PERSISTENT_DIR" ] || [ ! -w "$PERSISTENT_DIR" ]; then
    log "$PERSISTENT_DIR is not a writable directory; nothing linked"
    exit 0
fi
store=$PERSISTENT_DIR/.home

for rel in $PERSISTENT_LINKS; do
    case $rel in
        /* | *..* | '') log "skipping unsafe path '$rel'"; continue ;;
    esac
    link=$HOME/$rel
    target=$store/$rel
    if [ -L "$link" ]; then
        if [ "$(readlink "$link")" = "$target" ]; then
            continue # linked by an earlier run
        fi
        log "$link is a symlink of the image's own; left alone"
        continue
    fi
    if [ -e "$link" ]; then
        log "$link exists in the image; left alone (not persisted)"
        continue
    fi
    if ! mkdir -p "$target" "$(dirname -- "$link")" 2>/dev/null; then
        log "cannot create $target or the parent of $link; skipped"
        continue
    fi
    # ln fails rather than replacing if something appeared meanwhile
    if ! ln -s "$target" "$link" 2>/dev/null; then
        log "cannot link $link; skipped"
        continue
    fi
    log "linked $link -> $target"
done
exit 0
