package pgstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a server process, either started by this process (done is
// closed once it has been reaped) or found through a pid file (done is nil).
type process struct {
	name string
	pid  int
	done chan struct{}
}

func (p *process) alive() bool {
	if p == nil {
		return false
	}
	if p.done != nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	return pidAlive(p.pid)
}

// wait reports whether p has exited within d; it gives up early when ctx ends.
func (p *process) wait(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for p.alive() {
		select {
		case <-p.done: // nil for processes we did not start: never ready
		case <-tick.C:
		case <-timer.C:
			return !p.alive()
		case <-ctx.Done():
			return !p.alive()
		}
	}
	return true
}

// stop sends p each signal in turn until it exits. The first signal asks for
// a clean shutdown and gets until ctx ends (at most a minute); the later,
// harsher ones get a few seconds each.
func (p *process) stop(ctx context.Context, sigs ...syscall.Signal) error {
	for i, sig := range sigs {
		if !p.alive() {
			return nil
		}
		if err := syscall.Kill(p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal %s (pid %d): %w", p.name, p.pid, err)
		}
		waitCtx, grace := ctx, time.Minute
		if i > 0 {
			waitCtx, grace = context.Background(), 5*time.Second
		}
		if p.wait(waitCtx, grace) {
			return nil
		}
	}
	if p.alive() {
		return fmt.Errorf("%s (pid %d) is still running after %v", p.name, p.pid, sigs)
	}
	return nil
}

// pidAlive reports whether pid names a live process. A process we may not
// signal still counts as alive; a zombie does not (its parent may never reap
// it, e.g. under a container init that does not wait).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// The state follows the parenthesised command name, which may itself hold ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	return stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// procComm returns the kernel's short name of pid's executable.
func procComm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procCwd returns pid's working directory; it is empty when we may not see it.
func procCwd(pid int) string {
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return ""
	}
	return cwd
}

// procArgs returns pid's arguments.
func procArgs(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// pidsIn returns the live processes whose working directory is dir or below
// it. Postgres and all its backends chdir into the data directory, and
// PgBouncer runs in the run directory, so this finds anything of ours that is
// left over.
func pidsIn(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd := procCwd(pid)
		if (cwd == dir || strings.HasPrefix(cwd, dir+string(filepath.Separator))) && pidAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// readPidFile returns the pid on the first line of path, or 0 when the file is
// missing or unreadable.
func readPidFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	return pid
}

// spawnSpec describes one server to start.
type spawnSpec struct {
	name       string
	bin        string
	args       []string
	logPath    string         // stdout and stderr go here, truncated first
	deathSig   syscall.Signal // sent to the server when its parent dies; 0 for none
	dir        string
	credential *syscall.Credential
}

// spawn starts a server in its own session with its output in a log file, and
// reaps it in the background.
func spawn(s spawnSpec) (*process, error) {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", s.name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin, s.args...) //nolint:noctx // the server outlives Start's ctx; Stop ends it
	cmd.Dir = s.dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Credential: s.credential,
		Pdeathsig:  s.deathSig,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	p := &process{name: s.name, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the log file says why it stopped
		close(p.done)
	}()
	return p, nil
}

// childEnv is the environment of every program we run: nothing from the
// caller, so PGDATA, PGPORT and friends cannot leak in.
func childEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}
}

// logTail returns the last lines of a log file for an error message.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 4096
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return ""
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// startError is a server that did not come up, with the end of its log.
type startError struct {
	what    string
	logPath string
	tail    string
	err     error
}

func (e *startError) Error() string {
	msg := fmt.Sprintf("%s did not start: %v", e.what, e.err)
	if e.tail != "" {
		msg += fmt.Sprintf("\n--- last lines of %s ---\n%s", e.logPath, e.tail)
	}
	return msg
}

func (e *startError) Unwrap() error { return e.err }

// addrInUse reports whether a server failed because its port was taken, which
// can happen between picking a free port and the server binding it.
func (e *startError) addrInUse() bool {
	return strings.Contains(e.tail, "Address already in use")
}
