package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/queue"
)

// Parted is a Step whose work can run in parts (segment fan-out, DESIGN.md
// section 12). Each part is its own message and invocation; the last part to
// finish sends the merge, which records the step's outputs as Work would.
type Parted interface {
	Step
	// Parts decides the split of the job's media (sc has the asset's probe).
	// One range or none runs Work whole, as a step that is not Parted.
	Parts(sc *Context) []job.Range
	// WorkPart does part (1 for the first) over rng of the media and stores
	// what it made under the step's part keys. It is idempotent on the part.
	WorkPart(ctx context.Context, sc *Context, part int, rng job.Range) error
	// Merge joins the parts (sc.Parts of them) into the step's outputs and
	// removes the part files.
	Merge(ctx context.Context, sc *Context) (Result, error)
}

// split records the step's parts and sends the ones not yet sent. It
// reports merge when every part had already succeeded, so that this attempt
// does the merge (it then sets sc.Parts); an error is the attempt's outcome,
// already recorded.
func (r *Runner) split(ctx context.Context, sc *Context, ranges []job.Range, start time.Time) (merge bool, err error) {
	ds, err := r.Jobs.Split(ctx, sc.Job.ID, sc.step, sc.Attempt, ranges)
	if err != nil {
		return false, r.finish(ctx, sc, Result{}, err, time.Since(start))
	}
	if len(ds) == 0 {
		counts, err := r.Jobs.PartCounts(ctx, sc.Job.ID)
		if err != nil {
			return false, r.finish(ctx, sc, Result{}, err, time.Since(start))
		}
		p := counts[sc.step]
		if p.Total > 0 && p.Done == p.Total {
			sc.Parts = p.Total
			return true, nil
		}
		r.Log.InfoContext(ctx, "step already split; its parts are under way", "parts", p.Total, "done", p.Done)
		return false, nil
	}
	for _, d := range ds {
		if err := r.Jobs.SendPart(ctx, r.Queue, d); err != nil {
			r.Log.WarnContext(ctx, "send part failed; the sweeper will send it", "part", d.Part, "error", err.Error())
		}
	}
	r.Log.InfoContext(ctx, "step split into parts", "parts", len(ranges), "sent", len(ds))
	if r.Meter != nil {
		r.Meter.Invoked(ctx, Invocation{Job: sc.Job, Step: sc.step, Attempt: sc.Attempt, Split: len(ds), Start: start,
			Elapsed: time.Since(start)})
	}
	return false, nil
}

// handlePart runs one part message: claim the part, do it under the part's
// lease and the invocation's budget, and record its outcome. The part that
// completes the set sends the merge.
func (r *Runner) handlePart(ctx context.Context, step Parted, msg queue.Message) error {
	start := time.Now()
	c, err := r.Jobs.ClaimPart(ctx, msg.JobID, step.Name(), msg.Part, r.claimOptions())
	if err != nil {
		return err
	}
	switch c.Outcome {
	case job.Busy:
		return queue.Retry(c.RetryIn, fmt.Errorf("part %d: %s: %w", msg.Part, c.Note, ErrBusy))
	case job.Drop:
		if c.Failed != "" {
			r.Log.WarnContext(ctx, "step failed", "part", msg.Part, "reason", c.Failed)
		} else {
			r.Log.InfoContext(ctx, "part message dropped", "part", msg.Part, "why", c.Note, "message_attempt", msg.Attempt)
		}
		return nil
	}
	sc := &Context{Job: c.Job, Attempt: c.Attempt, Part: msg.Part, Parts: c.Total, step: step.Name(), runner: r}
	cleanup, werr := r.prepare(ctx, sc)
	defer cleanup()
	if werr == nil {
		wctx, cancel := r.budget(ctx)
		stopBeat := r.heartbeat(ctx, func(ctx context.Context) (bool, error) {
			return r.Jobs.PartHeartbeat(ctx, sc.Job.ID, sc.step, sc.Part, sc.Attempt)
		}, cancel)
		werr = step.WorkPart(wctx, sc, sc.Part, c.Range)
		stopBeat()
		lost := errors.Is(context.Cause(wctx), errLeaseLost)
		cancel(nil)
		if lost {
			// Another attempt holds the part, or the job was canceled and
			// its parts with it: nothing of this attempt counts.
			r.Log.WarnContext(ctx, "part attempt abandoned: it no longer holds the part", "part", sc.Part, "attempt", sc.Attempt)
			return nil
		}
	}
	if werr == nil && sc.Canceled(ctx) {
		werr = ErrCanceled
	}
	err = r.finishPart(ctx, sc, werr, start)
	if r.Meter != nil {
		r.Meter.Invoked(ctx, Invocation{Job: sc.Job, Step: sc.step, Attempt: sc.Attempt, Part: sc.Part, Start: start,
			Elapsed: time.Since(start), Err: werr})
	}
	return err
}

// finishPart records a part's outcome as finish does a step's: success (and
// the merge sent when it was the last), cancellation, a permanent failure
// (the job fails, the other parts are canceled) or a transient one (the
// message comes back, until the part has used its attempts).
func (r *Runner) finishPart(ctx context.Context, sc *Context, werr error, start time.Time) error {
	jobID, step, part := sc.Job.ID, sc.step, sc.Part
	switch {
	case werr == nil:
		billed := time.Since(start)
		cost := job.PartCost{BilledMS: (billed + time.Millisecond - 1).Milliseconds(), MemoryMB: r.MemoryMB}
		f, err := r.Jobs.FinishPart(ctx, jobID, step, part, sc.Attempt, cost)
		if err != nil {
			return err
		}
		if !f.Recorded {
			r.Log.WarnContext(ctx, "part finished, but its attempt no longer held it: nothing recorded", "part", part, "attempt", sc.Attempt)
			return nil
		}
		r.Log.InfoContext(ctx, "part succeeded", "part", part, "parts", sc.Parts, "billed_ms", cost.BilledMS, "merge", f.Merge != nil)
		if f.Merge != nil {
			r.send(ctx, *f.Merge)
		}
		return nil
	case errors.Is(werr, ErrCanceled) || sc.Canceled(ctx):
		r.Log.InfoContext(ctx, "part stopped: job canceled or deleted", "part", part)
		gone, err := r.Jobs.Stop(ctx, jobID, step)
		if gone {
			r.removeFiles(ctx, jobID)
		}
		return err
	case r.permanent(werr) || sc.Attempt >= r.maxAttempts():
		reason := Reason(step, werr, r.Describe, supportID(sc.Job))
		r.Log.WarnContext(ctx, "part failed", "part", part, "reason", reason, "attempt", sc.Attempt, "error", werr.Error())
		_, err := r.Jobs.FailPart(ctx, jobID, step, part, reason)
		return err
	}
	r.Log.WarnContext(ctx, "part attempt failed; it will be retried", "part", part, "attempt", sc.Attempt, "error", werr.Error())
	if err := r.Jobs.RetryPart(ctx, jobID, step, part, sc.Attempt, Reason(step, werr, r.Describe, supportID(sc.Job))); err != nil {
		return errors.Join(werr, err)
	}
	return r.handBack(werr, fmt.Errorf("%s part %d attempt %d: %w", step, part, sc.Attempt, werr))
}

// handleMerge runs the merge message the last part sent: the step gets a new
// attempt, the merge runs as a whole step's Work does, and its outcome is
// recorded as a whole step's (outputs, the next step).
func (r *Runner) handleMerge(ctx context.Context, step Parted, msg queue.Message) error {
	start := time.Now()
	c, err := r.Jobs.ClaimMerge(ctx, msg.JobID, step.Name(), r.claimOptions())
	if err != nil {
		return err
	}
	if r.dropped(ctx, c, msg) {
		return nil
	}
	sc := &Context{Job: c.Job, Attempt: c.Attempt, merge: true, step: step.Name(), runner: r}
	cleanup, err := r.prepare(ctx, sc)
	defer cleanup()
	if err != nil {
		return r.finish(ctx, sc, Result{}, err, 0)
	}
	counts, err := r.Jobs.PartCounts(ctx, sc.Job.ID)
	if err != nil {
		return r.finish(ctx, sc, Result{}, err, 0)
	}
	sc.Parts = counts[sc.step].Total
	err = r.work(ctx, sc, step.Merge, start, true)
	r.unpark(ctx, c.Job.UserID, step.Name())
	return err
}
