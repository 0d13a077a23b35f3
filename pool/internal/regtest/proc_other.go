//go:build !linux

package regtest

import "os/exec"

// bindLifetime relies on t.Cleanup alone outside Linux.
func bindLifetime(cmd *exec.Cmd) {}
