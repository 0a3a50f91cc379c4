//go:build tools

// The real containerd the tests read configurations with (`containerd config default` and
// `config dump`): the newest 2.x release the Go module proxy serves (v2.4.2, 2026-10-13).
package containerd

import _ "github.com/containerd/containerd/v2/cmd/containerd"
