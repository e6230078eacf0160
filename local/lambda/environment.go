package lambda

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redub/redub/local/invoke"
)

// timeoutGrace is how long past a function's timeout the Manager waits for
// RIE, which enforces the timeout in whole seconds and answers about 100 ms
// after it, before giving up on the environment itself.
const timeoutGrace = 500 * time.Millisecond

// startAttempts bounds the retries when a port picked for RIE was taken
// between picking and binding.
const startAttempts = 3

var (
	errStartTimeout = errors.New("not listening within the start timeout")
	errNoAnswer     = errors.New("no answer within the timeout")
)

// environment is one execution environment: an RIE process that runs the
// function, serving one invoke at a time.
type environment struct {
	pool *pool
	id   int
	env  []string

	// Guarded by pool.mu.
	state     state
	idleTimer *time.Timer

	invocations int // touched only by whoever holds the environment busy

	client   *http.Client
	tail     tail
	stopCh   chan struct{} // closed by stop
	finished chan struct{} // closed once its processes are gone and their output is written

	mu      sync.Mutex
	stopped bool
	proc    *process // the running RIE, set once it listens
}

func newEnvironment(p *pool, id int) *environment {
	transport := &http.Transport{
		Proxy:               nil, // RIE is on loopback; HTTP_PROXY must not matter
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	return &environment{
		pool:     p,
		id:       id,
		env:      environ(p.spec, p.m.opts.Region),
		state:    stateBusy,
		client:   &http.Client{Transport: transport},
		stopCh:   make(chan struct{}),
		finished: make(chan struct{}),
	}
}

// environ is the process environment of a function: a minimal base, the
// spec's variables, and the variables Lambda sets (which win).
func environ(spec FunctionSpec, region string) []string {
	vars := map[string]string{
		"PATH":             "/usr/local/bin:/usr/bin:/bin",
		"HOME":             os.TempDir(),
		"LANG":             "C.UTF-8",
		"TZ":               "UTC", // Lambda runs in UTC (TZ=:UTC)
		"LAMBDA_TASK_ROOT": filepath.Dir(spec.Binary),
	}
	maps.Copy(vars, spec.Env)
	timeoutSeconds := int64((spec.Timeout + time.Second - 1) / time.Second)
	maps.Copy(vars, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        spec.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(spec.MemoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.FormatInt(timeoutSeconds, 10),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_REGION":                      region,
		"AWS_DEFAULT_REGION":              region,
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + spec.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      logStreamName(),
	})
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// logStreamName is a stream name in Lambda's format, one per environment.
func logStreamName() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux
	return time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + hex.EncodeToString(b)
}

// start starts the environment's RIE process and waits until it listens.
// It returns ErrClosed when the environment is stopped meanwhile.
func (e *environment) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, e.pool.m.opts.StartTimeout, errStartTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		proc, err := e.spawn(ctx)
		if err != nil {
			close(e.finished)
			return err
		}
		err = e.waitReady(ctx, proc)
		if err == nil {
			e.mu.Lock()
			stopped := e.stopped
			if !stopped {
				e.proc = proc
			}
			e.mu.Unlock()
			if stopped {
				proc.kill()
				proc.settle(false)
				go e.finishAfter(proc)
				return ErrClosed
			}
			proc.settle(true)
			go e.finishAfter(proc)
			return nil
		}
		proc.kill()
		proc.gone(2 * time.Second)
		if proc.portClash() && attempt < startAttempts && ctx.Err() == nil && !e.isStopped() {
			proc.settle(false)
			continue
		}
		last := proc.lastLines()
		proc.settle(true) // RIE's own words on why it did not start
		go e.finishAfter(proc)
		return fmt.Errorf("start aws-lambda-rie: %w%s", err, last)
	}
}

// waitReady polls until proc listens on both its ports.
func (e *environment) waitReady(ctx context.Context, proc *process) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !proc.listening(ctx) {
		select {
		case <-tick.C:
		case <-proc.done:
			return fmt.Errorf("aws-lambda-rie exited at start (%w)", proc.err)
		case <-e.stopCh:
			return ErrClosed
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// finishAfter waits until proc has exited and its output is written, then
// tells the pool and marks the environment finished.
func (e *environment) finishAfter(proc *process) {
	<-proc.done
	e.pool.exited(e, proc.err)
	proc.gone(2 * time.Second)
	close(e.finished)
}

// output takes one line of the environment's output.
func (e *environment) output(line []byte) {
	e.pool.m.writeLine(e.pool.prefix, line)
	e.tail.add(line)
}

// invoke runs one invoke on e, which the caller holds busy.
func (e *environment) invoke(ctx context.Context, payload []byte) outcome {
	spec := e.pool.spec
	ictx, cancel := context.WithTimeoutCause(ctx, spec.Timeout+timeoutGrace, errNoAnswer)
	defer cancel()
	req, err := http.NewRequestWithContext(ictx, http.MethodPost, e.proc.url, bytes.NewReader(payload))
	if err != nil {
		return outcome{err: fmt.Errorf("build request: %w", err), replace: true}
	}
	req.Header.Set("Content-Type", "application/json")

	mark := e.tail.mark()
	start := time.Now()
	resp, err := e.client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	}
	res := invoke.Result{Duration: time.Since(start)}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			e.pool.note("environment %d: the caller gave up (%v): environment replaced", e.id, ctx.Err())
			return outcome{result: res, err: ctx.Err(), kind: kindCancelled, replace: true}
		case errors.Is(context.Cause(ictx), errNoAnswer):
			e.pool.note("environment %d: no answer within the %v timeout: environment replaced", e.id, spec.Timeout)
			return outcome{result: res, err: fmt.Errorf("%w after %v", invoke.ErrTimeout, spec.Timeout), kind: kindTimeout, replace: true}
		}
		detail := fmt.Sprintf("aws-lambda-rie did not answer (%v)", err)
		if e.exited() {
			// The function, orphaned, exits at its next call to the runtime API.
			detail = fmt.Sprintf("aws-lambda-rie exited (%v)", e.proc.err)
		}
		e.stop()
		return outcome{result: res, err: fmt.Errorf("%w: %s", invoke.ErrCrashed, detail), kind: kindCrash, replace: true}
	}

	v := classify(resp.StatusCode, resp.Header, body)
	switch v.kind {
	case kindOK:
		res.Payload = body
	case kindFunctionError:
		res.Payload, res.FunctionError = body, v.errorType
	case kindTimeout:
		return outcome{result: res, err: fmt.Errorf("%w after %v", invoke.ErrTimeout, spec.Timeout), kind: kindTimeout, replace: true}
	case kindCrash:
		res.Payload = body
		e.stopAndDrain() // so the function's last words are in the tail and the log
		detail := v.message
		if detail == "" {
			detail = "the function exited before answering (during init?)"
		}
		if last := e.tail.lastSince(mark); last != "" {
			detail += "; its last output: " + last
		}
		return outcome{result: res, err: fmt.Errorf("%w: %s", invoke.ErrCrashed, detail), kind: kindCrash, replace: true}
	}
	return outcome{result: res, kind: v.kind, replace: v.replace}
}

// stopAndDrain stops e and waits a little for its output to be written.
func (e *environment) stopAndDrain() {
	e.stop()
	select {
	case <-e.finished:
	case <-time.After(2 * time.Second):
	}
}

// stop kills the environment's processes; it does not wait for them.
func (e *environment) stop() {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	close(e.stopCh)
	proc := e.proc
	e.mu.Unlock()
	e.client.CloseIdleConnections()
	if proc != nil {
		proc.kill()
	}
}

func (e *environment) isStopped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopped
}

// exited reports whether e's RIE process has exited.
func (e *environment) exited() bool {
	e.mu.Lock()
	proc := e.proc
	e.mu.Unlock()
	if proc == nil {
		return false
	}
	select {
	case <-proc.done:
		return true
	default:
		return false
	}
}

// wait blocks until e's processes are gone and their output is written.
func (e *environment) wait(ctx context.Context) error {
	select {
	case <-e.finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
