package lambdarun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// tempPrefix names the per-process temporary directories: redub-env-<pid>-.
const tempPrefix = "redub-env-"

// privateTemp makes this process's own temporary directory under root and
// first removes those of processes that are gone. Lambda keeps /tmp across
// the restart of a runtime that timed out, so the work directories (ffmpeg
// outputs, downloaded media) of the invocation that timed out would stay and
// fill the function's ephemeral storage; pointing TMPDIR at a directory named
// after the process lets the next cold start tell its own from a dead
// process's, also on a machine (the local stack) where many environments
// share one /tmp. A directory named after pid itself is stale too: a
// restarted runtime may get its predecessor's pid. alive reports whether a
// process exists. It returns the new directory and the paths it removed.
func privateTemp(root string, pid int, alive func(int) bool) (string, []string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", nil, fmt.Errorf("clean stale temporary directories: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		owner, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '-'), 0)])
		if err != nil || (owner != pid && alive(owner)) {
			continue
		}
		path := filepath.Join(root, e.Name())
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, path)
	}
	dir, err := os.MkdirTemp(root, tempPrefix+strconv.Itoa(pid)+"-")
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return dir, removed, fmt.Errorf("clean stale temporary directories: %w", err)
	}
	return dir, removed, nil
}

// processAlive reports whether a process with this pid exists (signal 0
// checks without sending anything; EPERM means it exists as another user's).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
