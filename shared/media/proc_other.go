//go:build !unix

package media

import "os/exec"

// killGroupOnCancel kills only the process where there are no process
// groups; FFmpeg starts no children of its own.
func killGroupOnCancel(cmd *exec.Cmd) {}
