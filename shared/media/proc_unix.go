//go:build unix

package media

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel starts the command in its own process group and makes
// a cancel (timeout, Cancel, context) kill the whole group, so nothing the
// tool started outlives the run.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
