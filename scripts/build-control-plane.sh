#!/usr/bin/env bash
# Builds the tests' Kubernetes control plane from source, once per version, and prints the directory
# that holds the binaries: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, and
# kubeadm and containerd (the tests validate the bootstrap's kubeadm and containerd configuration
# with the real programs).
# Called by scripts/test.sh, never by the product. Needs Go (go.mod's `go` line; an older Go fetches
# that toolchain itself when GOTOOLCHAIN allows) and the Go module proxy.
#
# The binaries live outside the repository, keyed by the Kubernetes version and a hash of the Go
# module files, so a later run finds them with no Go invocation and any change of pins rebuilds:
#   ${BINDERHUB_WIZARD_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/binderhub-wizard/control-plane}/<version>-<hash>/
#
#   --where   print that directory and exit 0 when it is complete, 1 when it still has to be built
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD/tests/controlplane
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubeadm kwok containerd)

version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$src/go.mod")
minor=$(echo "$version" | cut -d. -f2)
# helm compares a chart's kubeVersion with the server's version, which these stamp in place of git's.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
# This script is part of the key too: a change of how it builds gives a new set.
key=$(cat scripts/build-control-plane.sh "$src/go.mod" "$src/go.sum" "$src/etcd/main.go" "$src/kwok/go.mod" "$src/kwok/go.sum" \
  "$src/containerd/go.mod" "$src/containerd/go.sum" \
  <(echo "$ldflags") | sha256sum | cut -c1-12)
root=${BINDERHUB_WIZARD_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/binderhub-wizard/control-plane}
dest=$root/$version-$key

complete() { [ -f "$dest/.complete" ]; }

if [ "${1:-}" = "--where" ]; then
  echo "$dest"
  complete
  exit
fi
if complete; then
  echo "$dest"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-control-plane: Go is not installed; the tests' Kubernetes control plane is built from source with it" >&2
  exit 2
fi

mkdir -p "$root"
exec 9>"$root/.lock"
flock 9  # another test run may be building the same version: wait for it, then reuse its binaries
if complete; then
  echo "$dest"
  exit 0
fi
work=$(mktemp -d "$root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-control-plane: building Kubernetes $version, etcd and kwok from source into $dest (first time only)" >&2
start=$SECONDS
export GOFLAGS=-buildvcs=false
(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$work/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubeadm ./etcd)
(cd "$src/kwok" && go build -trimpath -ldflags "-s -w" -o "$work/" sigs.k8s.io/kwok/cmd/kwok)
# No cgo and no btrfs/devmapper/zfs snapshotters: the tests only read configurations with it.
containerd_version=$(awk '{ sub(/^require /, "") } $1 == "github.com/containerd/containerd/v2" { print $2 }' \
  "$src/containerd/go.mod")
[ -n "$containerd_version" ] || { echo "build-control-plane: no containerd version in its go.mod" >&2; exit 1; }
(cd "$src/containerd" && CGO_ENABLED=0 go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
  -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version" -o "$work/" \
  github.com/containerd/containerd/v2/cmd/containerd)
for binary in "${binaries[@]}"; do
  [ -x "$work/$binary" ] || { echo "build-control-plane: $binary was not built" >&2; exit 1; }
done
echo "$version" >"$work/.complete"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "build-control-plane: built in $((SECONDS - start))s" >&2
echo "$dest"
