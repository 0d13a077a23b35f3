//go:build linux

package regtest

import (
	"os/exec"
	"syscall"
)

// bindLifetime makes the kernel kill btcd if the test process dies without
// running its cleanups (a panic, a timeout, kill -9).
func bindLifetime(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
