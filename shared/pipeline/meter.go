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
	Attempt int           // the step's attempt, or the part's for a part
	Part    int           // the part the invocation ran (1 for the first); 0: the whole step, its split or its merge
	Merge   bool          // the invocation merged the step's parts
	Split   int           // how many parts the invocation split the step into and sent; 0: it did not split
	Start   time.Time     // when the work began
	Elapsed time.Duration // how long the work and the step's bookkeeping took
	Outputs []Output      // the files it wrote (on success)
	Err     error         // nil when the step succeeded; ErrCanceled when the job was canceled
}
