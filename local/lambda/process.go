package lambda

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxLine is the longest output line written whole; longer ones are split.
const maxLine = 64 << 10

// process is one aws-lambda-rie process (a start attempt of an environment).
type process struct {
	pid   int
	addrs []string // the invoke address, then the runtime API address
	ports []int    // their ports
	url   string   // where invokes go
	out   *os.File // read end of the pipe that is RIE's (and the function's) stdout and stderr
	sink  func(line []byte)

	done     chan struct{} // closed once the process has been reaped
	err      error         // what Wait said; read after done
	logsDone chan struct{} // closed once out is at EOF (or closed)

	// Until the process listens its lines are held back: a start that is
	// retried on another port should not show RIE's panic about the first.
	mu      sync.Mutex
	holding bool
	dropped bool
	pending [][]byte
}

// rieOnlyVariables are set by or for RIE and removed from the function's own
// environment, since Lambda gives a function none of them (see spawn).
var rieOnlyVariables = []string{"AWS_LAMBDA_FUNCTION_TIMEOUT", "AWS_LAMBDA_METADATA_TOKEN", "AWS_LAMBDA_METADATA_API"}

// envProgram runs the function with a variable removed (coreutils' env).
const envProgram = "/usr/bin/env"

// spawn starts an RIE process for e on two free loopback ports.
func (e *environment) spawn(ctx context.Context) (*process, error) {
	addrs, reserved, err := ports.reserve(ctx, 2)
	if err != nil {
		return nil, fmt.Errorf("pick ports for aws-lambda-rie: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		ports.release(reserved)
		return nil, fmt.Errorf("output pipe for aws-lambda-rie: %w", err)
	}
	spec := e.pool.spec
	args := []string{
		"--log-level", "warn", // its INFO lines are a dozen per cold start; warnings and errors stay
		"--runtime-interface-emulator-address", addrs[0],
		"--runtime-api-address", addrs[1],
		// RIE needs AWS_LAMBDA_FUNCTION_TIMEOUT for the invoke deadline, but
		// Lambda gives a function no such variable: the function starts
		// without it, and reads its budget from the invocation's deadline.
		envProgram,
	}
	for _, v := range rieOnlyVariables {
		args = append(args, "--unset="+v)
	}
	args = append(args, spec.Binary)
	cmd := exec.Command(e.pool.m.opts.RIE, args...) //nolint:noctx // the environment outlives ctx; stop ends it
	cmd.Dir = spec.Dir
	cmd.Env = e.env
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	_ = w.Close() // the children hold their copies
	if err != nil {
		_ = r.Close()
		ports.release(reserved)
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	p := &process{
		pid:      cmd.Process.Pid,
		addrs:    addrs,
		ports:    reserved,
		url:      "http://" + addrs[0] + "/2015-03-31/functions/function/invocations",
		out:      r,
		sink:     e.output,
		done:     make(chan struct{}),
		logsDone: make(chan struct{}),
		holding:  true,
	}
	go p.pump()
	go func() {
		p.err = cmd.Wait()
		ports.release(reserved)
		close(p.done)
	}()
	return p, nil
}

// listening reports whether the process accepts connections on both its
// addresses.
func (p *process) listening(ctx context.Context) bool {
	for _, addr := range p.addrs {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		_ = conn.Close()
	}
	return p.ownsListeners()
}

// pump reads the process's output line by line until every writer is gone.
func (p *process) pump() {
	defer close(p.logsDone)
	defer p.out.Close()
	br := bufio.NewReaderSize(p.out, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			p.emit(bytes.TrimRight(line, "\r\n\t "))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (p *process) emit(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.dropped:
	case p.holding:
		if len(p.pending) < 200 {
			p.pending = append(p.pending, bytes.Clone(line))
		}
	default:
		p.sink(line)
	}
}

// settle ends the holding back of lines: they are written when keep is set,
// and dropped, with all that follow, when it is not.
func (p *process) settle(keep bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if keep {
		for _, line := range p.pending {
			p.sink(line)
		}
	} else {
		p.dropped = true
	}
	p.pending = nil
	p.holding = false
}

// portClash reports whether RIE failed because a port was taken.
func (p *process) portClash() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range p.pending {
		if bytes.Contains(line, []byte("address already in use")) {
			return true
		}
	}
	return false
}

// lastLines returns the held-back lines for an error message.
func (p *process) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return ""
	}
	lines := p.pending[max(0, len(p.pending)-5):]
	var b strings.Builder
	b.WriteString("; its output ends:")
	for _, line := range lines {
		b.WriteString("\n\t")
		b.WriteString(abbreviate(string(line)))
	}
	return b.String()
}

// kill kills the function's process group and then RIE's. The function goes
// first, while RIE is there to reap it: an orphan would be left to init,
// which in a container may never reap it.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	killChildren(p.pid)
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
}

// gone waits up to d for the process to exit and its output to be written.
func (p *process) gone(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return
	}
	select {
	case <-p.logsDone:
	case <-timer.C:
		// A grandchild that left the function's process group still holds
		// the pipe; stop reading rather than wait for it.
		_ = p.out.Close()
		<-p.logsDone
	}
}

// killChildren SIGKILLs the children of pid and their process groups, and
// waits a moment for them to be reaped.
func killChildren(pid int) {
	kids := childrenOf(pid)
	own := syscall.Getpgrp()
	for _, kid := range kids {
		if pg, err := syscall.Getpgid(kid); err == nil && pg > 1 && pg != own {
			_ = syscall.Kill(-pg, syscall.SIGKILL)
		}
		_ = syscall.Kill(kid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(time.Second)
	for _, kid := range kids {
		for pidAlive(kid) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
}

// tail keeps the last lines of a function's own output (not RIE's), for
// error messages.
type tail struct {
	mu    sync.Mutex
	lines []string
	n     int // lines added so far
}

func (t *tail) add(line []byte) {
	s := string(line)
	if strings.HasPrefix(s, "START RequestId: ") || strings.HasPrefix(s, "END RequestId: ") ||
		strings.HasPrefix(s, "REPORT RequestId: ") || strings.Contains(s, "] (rapid) ") || strings.TrimSpace(s) == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	t.lines = append(t.lines, abbreviate(s))
	if len(t.lines) > 5 {
		t.lines = t.lines[1:]
	}
}

// mark returns a position in the output, for lastSince.
func (t *tail) mark() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// lastSince returns the last line added after mark, or "".
func (t *tail) lastSince(mark int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == mark || len(t.lines) == 0 {
		return ""
	}
	return t.lines[len(t.lines)-1]
}
