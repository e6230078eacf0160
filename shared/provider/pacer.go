package provider

import (
	"context"
	"io"
	"sync"
	"time"
)

// Pacer paces one invocation's concurrent requests to one provider. At most
// Limit requests are in flight (from sending to the answer's body being
// closed), and when the provider asks to wait (a 429, or any retryable
// answer with Retry-After), every request to it waits until the hold has
// passed, not only the one that was told: the others would only be told
// the same. Give every client of one provider the same Pacer, through
// Policy.Pacer. A nil *Pacer paces nothing. Its methods are safe for
// concurrent use.
type Pacer struct {
	slots chan struct{}

	mu    sync.Mutex
	gate  chan struct{} // closed when the hold ends; nil while none is on
	until time.Time     // when the hold ends
	extra time.Duration // how much later holds that came during this one end
	cause *Error        // the answer that asked for the hold
	holds int
}

// NewPacer returns a Pacer that lets limit requests be in flight at once
// (at least 1).
func NewPacer(limit int) *Pacer {
	return &Pacer{slots: make(chan struct{}, max(limit, 1))}
}

// Limit returns how many requests may be in flight at once; 0 for a nil
// Pacer (no limit).
func (p *Pacer) Limit() int {
	if p == nil {
		return 0
	}
	return cap(p.slots)
}

// Holds returns how many times the provider's answers started a hold (a
// hold asked for while one is on extends it and is not counted).
func (p *Pacer) Holds() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holds
}

// acquire waits until no hold is on and a slot is free, and returns the
// function that frees the slot (safe to call more than once). It returns
// the *Error that started a hold, with RetryAfter set to what is left of
// it, when that is more than maxWait or would pass ctx's deadline (as Do
// never starts a wait it cannot finish), and ctx's error when ctx ends.
func (p *Pacer) acquire(ctx context.Context, maxWait time.Duration) (func(), error) {
	if p == nil {
		return func() {}, nil
	}
	for {
		if err := p.waitHold(ctx, maxWait); err != nil {
			return nil, err
		}
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		// A hold may have started while this request waited for its slot:
		// it must not go out now.
		p.mu.Lock()
		held := p.gate != nil
		p.mu.Unlock()
		if !held {
			var once sync.Once
			return func() { once.Do(func() { <-p.slots }) }, nil
		}
		<-p.slots
	}
}

// waitHold returns once no hold is on.
func (p *Pacer) waitHold(ctx context.Context, maxWait time.Duration) error {
	for {
		p.mu.Lock()
		gate, left, cause := p.gate, time.Until(p.until)+p.extra, p.cause
		p.mu.Unlock()
		if gate == nil {
			return nil
		}
		deadline, ok := ctx.Deadline()
		if left > maxWait || (ok && time.Until(deadline) < left) {
			e := *cause
			e.RetryAfter = max(left, time.Millisecond)
			e.Attempts = 0
			return &e
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// hold stops every request from going out for wait, because of cause. A
// hold asked for while one is on makes it last until the later of the two
// ends. sleep waits out the hold (Policy.Sleep, which tests replace).
func (p *Pacer) hold(wait time.Duration, cause *Error, sleep func(context.Context, time.Duration) error) {
	if wait <= 0 {
		return
	}
	p.mu.Lock()
	end := time.Now().Add(wait)
	if p.gate != nil {
		if later := end.Sub(p.until.Add(p.extra)); later > 0 {
			p.extra += later
			p.cause = cause
		}
		p.mu.Unlock()
		return
	}
	gate := make(chan struct{})
	p.gate, p.until, p.extra, p.cause = gate, end, 0, cause
	p.holds++
	p.mu.Unlock()

	// One sleeper for the whole hold; the requests wait on its gate. It is
	// not tied to any request's context: the hold is the provider's, and a
	// request that gives up does not end it.
	go func() {
		d := wait
		for d > 0 {
			_ = sleep(context.Background(), d)
			p.mu.Lock()
			d, p.extra = p.extra, 0
			p.until = p.until.Add(d)
			if d <= 0 {
				p.gate = nil
				close(gate)
			}
			p.mu.Unlock()
		}
	}()
}

// releasingBody frees a Pacer slot when the answer's body is closed: a
// request is in flight until its answer has been read.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
