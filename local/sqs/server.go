package sqs

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is the local-aws-sqs release whose behaviour this package is built
// around (see the package documentation for its flaws).
const Version = "2.0.2"

// The stand-in's cosmetic identity, used in queue URLs and ARNs.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

const (
	packageName  = "local-aws-sqs"
	startTimeout = 15 * time.Second
	stopGrace    = 3 * time.Second
	pidFileName  = "sqs.pid"
	scriptName   = "server.mjs"
)

//go:embed server.mjs
var serverScript []byte

// ErrNotInstalled is returned by StartServer when node or the local-aws-sqs
// package is missing.
var ErrNotInstalled = errors.New("local-aws-sqs is not installed")

// ServerOptions configures StartServer.
type ServerOptions struct {
	ToolsDir string    // the directory `make tools` installs into (.tools); the package is ToolsDir/node_modules/local-aws-sqs
	Port     int       // 0 lets the server pick a free 127.0.0.1 port
	Log      io.Writer // the server's output (may be nil)

	// StateDir, when set, holds server.mjs and a pid file, so that a server
	// left behind by a killed caller is found and stopped by the next
	// StartServer. Without it a temporary directory is used and removed by Stop.
	StateDir string

	Region    string // "" = DefaultRegion; appears in queue ARNs
	AccountID string // "" = DefaultAccountID; appears in queue URLs and ARNs
}

// Server is local-aws-sqs running under node. The queues live in the
// process's memory: they are gone once it stops.
type Server struct {
	endpoint  string
	port      int
	region    string
	accountID string
	dir       string
	ownDir    bool // dir is a temporary directory that Stop removes

	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been reaped
	logDone chan struct{} // closed once its stdout has been copied

	stopOnce sync.Once
	stopErr  error
}

// StartServer starts local-aws-sqs under node and returns once it answers
// SQS requests. It returns an error wrapping ErrNotInstalled when node or the
// package is missing. On any error nothing is left running.
func StartServer(ctx context.Context, opts ServerOptions) (*Server, error) {
	node, pkgDir, err := findServer(opts.ToolsDir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		region:    cmp.Or(opts.Region, DefaultRegion),
		accountID: cmp.Or(opts.AccountID, DefaultAccountID),
		dir:       opts.StateDir,
		exited:    make(chan struct{}),
		logDone:   make(chan struct{}),
	}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "redub-sqs-"); err != nil {
			return nil, fmt.Errorf("start sqs: %w", err)
		}
		s.ownDir = true
	} else {
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return nil, fmt.Errorf("start sqs: %w", err)
		}
		stopLeftover(filepath.Join(s.dir, pidFileName), filepath.Join(s.dir, scriptName))
	}
	script := filepath.Join(s.dir, scriptName)
	if err := os.WriteFile(script, serverScript, 0o644); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("start sqs: %w", err)
	}

	if err := s.spawn(node, script, pkgDir, opts.Port, opts.Log); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop(context.Background())
		return nil, err
	}
	return s, nil
}

// findServer returns the node binary and the package's directory.
func findServer(toolsDir string) (node, pkgDir string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("%w: node not found in PATH (install Node.js 20, then run make tools)", ErrNotInstalled)
	}
	if toolsDir == "" {
		return "", "", fmt.Errorf("%w: no tools directory given (run make tools)", ErrNotInstalled)
	}
	if toolsDir, err = filepath.Abs(toolsDir); err != nil {
		return "", "", fmt.Errorf("start sqs: %w", err)
	}
	pkgDir = filepath.Join(toolsDir, "node_modules", packageName)
	if _, err := os.Stat(filepath.Join(pkgDir, "package.json")); err != nil {
		return "", "", fmt.Errorf("%w: %s is missing (run make tools)", ErrNotInstalled, pkgDir)
	}
	return node, pkgDir, nil
}

// spawn starts node in its own session, so that a Ctrl-C aimed at the
// caller's process group leaves the queues up until the caller stops them; a
// parent-death signal still ends it when the caller dies.
func (s *Server) spawn(node, script, pkgDir string, port int, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	out := &outputLog{w: log}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start sqs: %w", err)
	}
	cmd := exec.Command(node, script, pkgDir, strconv.Itoa(port), s.region, s.accountID) //nolint:noctx // the server outlives StartServer's ctx; Stop ends it
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NODE_ENV=development"}
	cmd.Stdout = stdoutW
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return fmt.Errorf("start sqs: %w", err)
	}
	stdoutW.Close()
	s.cmd = cmd
	_ = os.WriteFile(filepath.Join(s.dir, pidFileName), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)

	ports := make(chan int, 1)
	go func() {
		defer close(s.logDone)
		defer stdoutR.Close()
		r := bufio.NewReader(stdoutR)
		first, err := r.ReadBytes('\n')
		var hello struct{ Port int }
		if err == nil && json.Unmarshal(first, &hello) == nil && hello.Port > 0 {
			ports <- hello.Port
		} else {
			_, _ = out.Write(first)
		}
		_, _ = io.Copy(out, r)
	}()
	go func() {
		_ = cmd.Wait() // its output says why it stopped
		close(s.exited)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case s.port = <-ports:
	case <-s.exited:
		<-s.logDone
		return fmt.Errorf("start sqs: node exited: %s%s", cmd.ProcessState, out.last())
	case <-timer.C:
		_ = s.Stop(context.Background())
		return fmt.Errorf("start sqs: no port reported within %v%s", startTimeout, out.last())
	}
	s.endpoint = "http://127.0.0.1:" + strconv.Itoa(s.port)
	return nil
}

// waitReady polls ListQueues until the server answers it.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/", strings.NewReader("{}"))
		if err != nil {
			return fmt.Errorf("start sqs: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "AmazonSQS.ListQueues")
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("ListQueues answered %s", resp.Status)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("start sqs: node exited: %s", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("start sqs: not answering at %s: %w", s.endpoint, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Endpoint returns the server's base URL, http://127.0.0.1:<port>.
func (s *Server) Endpoint() string { return s.endpoint }

// Region returns the region that appears in the server's queue ARNs.
func (s *Server) Region() string { return s.region }

// AccountID returns the account id that appears in the server's queue URLs
// and ARNs.
func (s *Server) AccountID() string { return s.accountID }

// Stop ends the node process (SIGTERM, then SIGKILL after a grace period or
// when ctx ends) and waits until it has exited, so its port is free. It is
// safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop(ctx)
		s.cleanup()
	})
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	if s.cmd == nil {
		return nil
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
	case <-ctx.Done():
	}
	select {
	case <-s.exited:
	default:
		_ = syscall.Kill(pid, syscall.SIGKILL)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("stop sqs: node (pid %d) is still running", pid)
		}
	}
	<-s.logDone
	return nil
}

func (s *Server) cleanup() {
	switch {
	case s.ownDir:
		_ = os.RemoveAll(s.dir)
	case s.cmd != nil:
		// Only our own pid file: a later server may have taken the directory.
		pidFile := filepath.Join(s.dir, pidFileName)
		if b, err := os.ReadFile(pidFile); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(s.cmd.Process.Pid) {
			_ = os.Remove(pidFile)
		}
	}
}

// stopLeftover kills a server that a killed caller left running: the process
// in pidFile, if it still runs our script.
func stopLeftover(pidFile, script string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(script)) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for range 200 { // a zombie has an empty command line
		if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !bytes.Contains(cmdline, []byte(script)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = os.Remove(pidFile)
}

// outputLog serialises the server's stdout and stderr into one writer and
// keeps the end of them for start errors.
type outputLog struct {
	mu   sync.Mutex
	w    io.Writer
	tail []byte
}

const tailSize = 2048

func (l *outputLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, p...)
	if len(l.tail) > tailSize {
		l.tail = append(l.tail[:0], l.tail[len(l.tail)-tailSize:]...)
	}
	return l.w.Write(p)
}

// last returns the end of the output, for an error message.
func (l *outputLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(bytes.TrimSpace(l.tail)) == 0 {
		return ""
	}
	return "\n--- end of the server output ---\n" + string(bytes.TrimSpace(l.tail))
}
