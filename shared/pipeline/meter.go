package pipeline

import (
	"context"
	"time"

	"github.com/redub/redub/shared/job"
)

// Meter is told of each invocation of a step once its outcome is recorded:
// what it cost, the metrics it makes. It cannot fail the step; it logs its
// own errors.
type Meter interface {
	Invoked(ctx context.Context, inv Invocation)
}

// Invocation is one run of a step's work, as a Meter sees it.
type Invocation struct {
	Job     job.Job // as claimed
	Step    string
	Attempt int
	Start   time.Time     // when the work began
	Elapsed time.Duration // how long the work and the step's bookkeeping took
	Outputs []Output      // the files it wrote (on success)
	Err     error         // nil when the step succeeded; ErrCanceled when the job was canceled
}
