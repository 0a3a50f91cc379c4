//go:build tools

// Package kwok pins kwok's own command, built by scripts/build-control-plane.sh.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
