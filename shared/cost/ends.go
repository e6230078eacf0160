package cost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/metric"
)

// DefaultSettle is how old a job's end must be before Ends meters it: long
// enough for the step invocation that ended the job to record its own usage
// (the Meter runs just after the end commits), short next to the sweeper's
// 15-second rounds.
const DefaultSettle = 10 * time.Second

// EndEvents is the job_events outbox call Ends makes (shared/job owns it).
type EndEvents interface {
	MeterEnds(ctx context.Context, settle time.Duration, limit int, write func(ctx context.Context, evs []job.Event) error) (int, error)
}

// Usages reads a job's recorded usage.
type Usages interface {
	Usages(ctx context.Context, jobID uuid.UUID) ([]Usage, error)
}

// Ends writes the job-end metrics from the job_events outbox, once per end,
// whoever ended the job: the step that finished it, the API's cancel, the
// sweeper's dead-letter verdict, a deleted asset. The sweeper runs it.
//
// Each end is one EMF line under its recipe, stamped with the job's end:
// JobsSucceeded, JobsFailed and JobsCanceled (1 for its kind, 0 for the
// others, so a rate can be computed), JobDuration (creation to end) and
// JobCostUSD (its usage at Prices; left out for a job deleted with its
// asset, whose usage went with it).
type Ends struct {
	Events  EndEvents
	Usages  Usages
	Prices  Prices
	Metrics *metric.Emitter
	// Settle is how old an end must be to be metered (DefaultSettle in
	// production; 0 in tests).
	Settle time.Duration
	Limit  int          // ends per run; 0: 100
	Log    *slog.Logger // nil: a failed metric write is not logged
}

// Write meters the ends waiting in the outbox and returns how many. An
// error leaves them for the next run.
func (e *Ends) Write(ctx context.Context) (int, error) {
	limit := e.Limit
	if limit <= 0 {
		limit = 100
	}
	return e.Events.MeterEnds(ctx, e.Settle, limit, func(ctx context.Context, evs []job.Event) error {
		var errs []error
		for _, ev := range evs {
			ms, err := e.endMetrics(ctx, ev)
			if err != nil {
				return err
			}
			errs = append(errs, e.Metrics.EmitAt(ev.FinishedAt, []metric.Dim{{Name: "recipe", Value: string(ev.Recipe)}}, ms...))
		}
		// A line that could not be written is not written again: a retry
		// would write the others twice.
		if err := errors.Join(errs...); err != nil && e.Log != nil {
			e.Log.WarnContext(ctx, "metrics: write job end failed", "error", err.Error())
		}
		return nil
	})
}

// endNames maps an end event to its counter.
var endNames = map[string]string{job.EventSucceeded: "JobsSucceeded", job.EventFailed: "JobsFailed", job.EventCanceled: "JobsCanceled"}

func (e *Ends) endMetrics(ctx context.Context, ev job.Event) ([]metric.Metric, error) {
	var ms []metric.Metric
	for _, typ := range []string{job.EventSucceeded, job.EventFailed, job.EventCanceled} {
		v := 0.0
		if typ == ev.Type {
			v = 1
		}
		ms = append(ms, metric.Metric{Name: endNames[typ], Unit: metric.Count, Value: v})
	}
	if !ev.JobCreatedAt.IsZero() {
		ms = append(ms, metric.Metric{Name: "JobDuration", Unit: metric.Seconds, Value: max(ev.FinishedAt.Sub(ev.JobCreatedAt).Seconds(), 0)})
	}
	if !ev.JobGone && e.Usages != nil {
		us, err := e.Usages.Usages(ctx, ev.JobID)
		if err != nil {
			return nil, fmt.Errorf("cost of job %s: %w", ev.JobID, err)
		}
		ms = append(ms, metric.Metric{Name: "JobCostUSD", Unit: metric.None, Value: Estimate(e.Prices, us).TotalUSD})
	}
	return ms, nil
}
