package cost

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/metric"
	"github.com/redub/redub/shared/pipeline"
)

// Calls lists a job's paid provider calls (the ledger's).
type Calls interface {
	Calls(ctx context.Context, jobID uuid.UUID) ([]ledger.Record, error)
}

// Meter records what each step invocation used and writes its metrics. It
// is the pipeline runner's Meter.
type Meter struct {
	Store         *Store
	Prices        Prices
	Calls         Calls
	Metrics       *metric.Emitter // nil: no metrics
	Log           *slog.Logger
	MemoryMB      int    // the function's memory; 0: its Lambda time is not recorded
	Architecture  string // arm64 or x86_64
	RetentionDays int    // how long outputs are priced as kept
}

// Invoked implements pipeline.Meter.
func (m *Meter) Invoked(ctx context.Context, inv pipeline.Invocation) {
	calls, err := m.paidCalls(ctx, inv)
	if err != nil {
		m.Log.WarnContext(ctx, "cost: read provider calls failed; their cost is not recorded", "error", err.Error())
	}
	if err := m.Store.Record(ctx, m.Usage(inv, calls)); err != nil {
		m.Log.WarnContext(ctx, "cost: record usage failed", "error", err.Error())
	}
	m.metrics(ctx, inv, calls)
}

// paidCalls returns the provider calls the invocation made: its step's
// calls that finished while it ran. Calls reused from an earlier attempt
// finished before it began.
func (m *Meter) paidCalls(ctx context.Context, inv pipeline.Invocation) ([]ledger.Record, error) {
	if m.Calls == nil {
		return nil, nil
	}
	all, err := m.Calls.Calls(ctx, inv.Job.ID)
	if err != nil {
		return nil, err
	}
	var out []ledger.Record
	for _, c := range all {
		if c.Step == inv.Step && c.Status != ledger.Pending && !c.UpdatedAt.Before(inv.Start) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Usage is what one invocation used: its Lambda time and request, its S3
// requests and stored GB-months, its SQS requests and its paid provider calls.
//
// The S3 and SQS counts are modelled, not counted: a step reads its input
// (one GET), writes each output (one PUT), and its message is received,
// deleted and (on success) the next step's sent: three SQS requests, two
// otherwise.
func (m *Meter) Usage(inv pipeline.Invocation, calls []ledger.Record) []Usage {
	var us []Usage
	var part *int
	if inv.Part > 0 {
		part = &inv.Part
	}
	add := func(service, what string, q float64, unit string) {
		if q > 0 {
			us = append(us, Usage{JobID: inv.Job.ID, Step: inv.Step, Part: part, Attempt: inv.Attempt, Service: service, What: what, Quantity: q, Unit: unit})
		}
	}
	if m.MemoryMB > 0 {
		// Lambda bills duration rounded up to the millisecond.
		billed := math.Ceil(float64(inv.Elapsed) / float64(time.Millisecond))
		what := "duration_arm64"
		if m.Architecture == "x86_64" {
			what = "duration_x86_64"
		}
		add("lambda", what, billed/1000*float64(m.MemoryMB)/1024, "GB-seconds")
	}
	add("lambda", "requests", 1, "requests")
	add("s3", "get_requests", 1, "requests")
	var bytes int64
	for _, o := range inv.Outputs {
		bytes += o.SizeBytes
	}
	add("s3", "put_requests", float64(len(inv.Outputs)), "requests")
	add("s3", "storage", float64(bytes)/(1<<30)*float64(m.RetentionDays)/30, "GB-months")
	sqs := 2.0 + float64(inv.Split) // a split sends each of its parts
	if inv.Err == nil && inv.Split == 0 {
		sqs = 3
	}
	add("sqs", "requests", sqs, "requests")
	for _, c := range calls {
		if c.Status != ledger.Succeeded {
			continue // a refused call is not billed
		}
		var u struct {
			AudioSeconds     float64 `json:"audio_seconds"`
			PromptTokens     float64 `json:"prompt_tokens"`
			CompletionTokens float64 `json:"completion_tokens"`
			Characters       float64 `json:"characters"`
		}
		_ = json.Unmarshal(c.Usage, &u) // a call without usage costs nothing here
		switch c.Provider {
		case "openai":
			add("openai", "transcribe_audio", u.AudioSeconds, "seconds")
			add("openai", "translate_input", u.PromptTokens, "tokens")
			add("openai", "translate_output", u.CompletionTokens, "tokens")
		case "elevenlabs":
			add("elevenlabs", "tts_characters", u.Characters, "characters")
		}
	}
	return us
}

// metrics writes the invocation's step and provider metrics. The job-end
// metrics come from the job_events outbox (Ends), for every end.
func (m *Meter) metrics(ctx context.Context, inv pipeline.Invocation, calls []ledger.Record) {
	if m.Metrics == nil {
		return
	}
	var errs []error
	step := []metric.Dim{{Name: "step", Value: inv.Step}}
	ms := []metric.Metric{{Name: "StepDuration", Unit: metric.Milliseconds, Value: float64(inv.Elapsed.Milliseconds())}}
	switch {
	case inv.Split > 0: // the invocation that split the step: how many parts it sent
		ms = append(ms, metric.Metric{Name: "PartsPerStep", Unit: metric.Count, Value: float64(inv.Split)})
	case inv.Part == 0 && !inv.Merge: // a whole step is one part
		ms = append(ms, metric.Metric{Name: "PartsPerStep", Unit: metric.Count, Value: 1})
	}
	errs = append(errs, m.Metrics.Emit(step, ms...))
	for _, c := range calls {
		failed := 0.0
		if c.Status == ledger.Failed {
			failed = 1
		}
		errs = append(errs, m.Metrics.Emit([]metric.Dim{{Name: "provider", Value: c.Provider}},
			metric.Metric{Name: "ProviderLatency", Unit: metric.Milliseconds, Value: float64(c.UpdatedAt.Sub(c.CreatedAt).Milliseconds())},
			metric.Metric{Name: "ProviderCalls", Unit: metric.Count, Value: 1},
			metric.Metric{Name: "ProviderErrors", Unit: metric.Count, Value: failed}))
	}
	if err := errors.Join(errs...); err != nil {
		m.Log.WarnContext(ctx, "metrics: write failed", "error", err.Error())
	}
}
