package lambda

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/redub/redub/local/invoke"
)

// pool holds the environments of one function.
type pool struct {
	m      *Manager
	spec   FunctionSpec
	prefix string

	mu     sync.Mutex
	idle   []*environment            // most recently used last
	all    map[*environment]struct{} // starting, idle and busy
	busy   int
	closed bool
	seq    int
	counts PoolStats // the counters; Environments and Busy are filled in by stats
}

// state is where an environment is in its pool; it is guarded by pool.mu.
type state int

const (
	stateBusy state = iota // starting, or running an invoke
	stateIdle
	stateGone // stopped or stopping; no longer counted
)

func newPool(m *Manager, spec FunctionSpec) *pool {
	return &pool{
		m:      m,
		spec:   spec,
		prefix: m.opts.Prefix(spec.Name),
		all:    map[*environment]struct{}{},
		counts: PoolStats{Name: spec.Name},
	}
}

// note writes a line of the Manager's own about this function to the log.
func (p *pool) note(format string, args ...any) {
	p.m.writeLine(p.prefix, fmt.Appendf(nil, "[local lambda] "+format, args...))
}

func (p *pool) invoke(ctx context.Context, payload []byte) (invoke.Result, error) {
	e, err := p.acquire(ctx)
	if err != nil {
		return invoke.Result{}, err
	}
	cold := e.invocations == 0
	e.invocations++
	out := e.invoke(ctx, payload)
	out = p.release(e, out, cold)
	return out.result, out.err
}

// acquire hands out an idle environment, or starts one when none is idle and
// the pool is below its limit.
func (p *pool) acquire(ctx context.Context) (*environment, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	for len(p.idle) > 0 {
		e := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if e.idleTimer != nil {
			e.idleTimer.Stop()
		}
		if e.exited() { // its exit is being handled; do not hand it out
			p.forget(e)
			continue
		}
		e.state = stateBusy
		p.busy++
		p.mu.Unlock()
		return e, nil
	}
	if len(p.all) >= p.spec.MaxConcurrency {
		p.counts.Throttles++
		p.mu.Unlock()
		return nil, fmt.Errorf("%w (limit %d)", invoke.ErrThrottled, p.spec.MaxConcurrency)
	}
	e := p.newEnvironment()
	p.busy++
	p.mu.Unlock()

	if err := e.start(ctx); err != nil {
		p.mu.Lock()
		p.forget(e)
		p.busy--
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Lock()
	p.counts.Started++
	p.mu.Unlock()
	return e, nil
}

// newEnvironment registers a new, busy environment; p.mu is held.
func (p *pool) newEnvironment() *environment {
	p.seq++
	e := newEnvironment(p, p.seq)
	p.all[e] = struct{}{}
	return e
}

// forget drops e from the pool's books; p.mu is held.
func (p *pool) forget(e *environment) {
	if e.state == stateIdle {
		p.idle = slices.DeleteFunc(p.idle, func(x *environment) bool { return x == e })
	}
	if e.idleTimer != nil {
		e.idleTimer.Stop()
	}
	e.state = stateGone
	delete(p.all, e)
}

// release counts a finished invoke and parks e for the next one, or stops it
// when the invoke went wrong in a way that leaves it unusable.
func (p *pool) release(e *environment, out outcome, cold bool) outcome {
	p.mu.Lock()
	p.busy--
	p.counts.Invocations++
	if cold {
		p.counts.ColdStarts++
	}
	switch out.kind {
	case kindFunctionError:
		p.counts.Errors++
	case kindTimeout:
		p.counts.Errors++
		p.counts.Timeouts++
	case kindCrash:
		p.counts.Errors++
		p.counts.Crashes++
	}
	closed := p.closed
	if closed && out.err != nil {
		out.err = ErrClosed // Close killed the environment under the invoke
	}
	replace := out.replace || closed || e.exited()
	if replace {
		p.forget(e)
	} else {
		p.park(e)
	}
	p.mu.Unlock()
	if replace {
		e.stop()
	}
	return out
}

// park makes e idle; p.mu is held.
func (p *pool) park(e *environment) {
	e.state = stateIdle
	p.idle = append(p.idle, e)
	if maxIdle := p.m.opts.MaxIdle; maxIdle > 0 {
		e.idleTimer = time.AfterFunc(maxIdle, func() { p.reap(e, maxIdle) })
	}
}

// reap stops e if it is still idle.
func (p *pool) reap(e *environment, after time.Duration) {
	p.mu.Lock()
	if e.state != stateIdle {
		p.mu.Unlock()
		return
	}
	p.forget(e)
	p.mu.Unlock()
	p.note("environment %d idle for %v: stopped", e.id, after)
	e.stop()
}

// exited is called once e's RIE process has exited. An idle environment is
// dropped here; a busy one is dropped by release, when its invoke fails.
func (p *pool) exited(e *environment, exitErr error) {
	p.mu.Lock()
	wasIdle := e.state == stateIdle && !p.closed
	if wasIdle {
		p.forget(e)
	}
	p.mu.Unlock()
	if wasIdle {
		p.note("environment %d: aws-lambda-rie exited while idle (%v)", e.id, exitErr)
		e.stop()
	}
}

// warm starts an environment and parks it, unless one is idle already or
// the pool is full.
func (p *pool) warm(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if len(p.idle) > 0 || len(p.all) >= p.spec.MaxConcurrency {
		p.mu.Unlock()
		return nil
	}
	e := p.newEnvironment()
	p.mu.Unlock()

	err := e.start(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		p.forget(e)
		return err
	case p.closed || e.exited():
		p.forget(e)
		go e.stop()
		return ErrClosed
	}
	p.counts.Started++
	p.park(e)
	return nil
}

func (p *pool) stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.counts
	s.Environments = len(p.all)
	s.Busy = p.busy
	return s
}

// close marks the pool closed and returns every environment it has, for the
// caller to stop. Busy ones are dropped by release when their invoke fails.
func (p *pool) close() []*environment {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	envs := slices.Collect(maps.Keys(p.all))
	for _, e := range slices.Clone(p.idle) {
		p.forget(e)
	}
	p.idle = nil
	return envs
}
