// Package metric writes CloudWatch Embedded Metric Format lines: one JSON
// object per line on the function's output, which CloudWatch Logs turns into
// metrics with no API call. Dimensions stay few and bounded (stage, recipe,
// step, provider, reason), so the number of metric series is too.
//
// The format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metric

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every redub metric.
const Namespace = "Redub"

// Units CloudWatch accepts that redub uses.
const (
	Milliseconds = "Milliseconds"
	Seconds      = "Seconds"
	Count        = "Count"
	None         = "None"
)

// Dim is a dimension: a name and its value.
type Dim struct{ Name, Value string }

// Metric is one value.
type Metric struct {
	Name  string
	Unit  string
	Value float64
}

// Emitter writes EMF lines to W. It is safe for concurrent use; a nil
// *Emitter writes nothing.
type Emitter struct {
	w     io.Writer
	stage string
	now   func() time.Time
	mu    sync.Mutex
}

// New returns an Emitter writing to w, with stage as every line's stage
// dimension.
func New(w io.Writer, stage string) *Emitter {
	return &Emitter{w: w, stage: stage, now: time.Now}
}

// Emit writes one line with ms under the dimensions stage + dims. A write
// error is returned for the caller to log; it never matters to the work.
func (e *Emitter) Emit(dims []Dim, ms ...Metric) error {
	if e == nil {
		return nil
	}
	return e.EmitAt(e.now(), dims, ms...)
}

// MaxAge is how far in the past a line's timestamp may be: CloudWatch
// refuses EMF lines older than two weeks; an hour is kept in hand.
const MaxAge = 14*24*time.Hour - time.Hour

// EmitAt is Emit for something that happened at t (a job's end, metered
// later): the line carries t as its timestamp, so the value lands in the
// minute it belongs to. A t older than MaxAge is written as now.
func (e *Emitter) EmitAt(t time.Time, dims []Dim, ms ...Metric) error {
	if e == nil || len(ms) == 0 {
		return nil
	}
	if now := e.now(); t.IsZero() || now.Sub(t) > MaxAge {
		t = now
	}
	names := []string{"stage"}
	line := map[string]any{"stage": e.stage}
	for _, d := range dims {
		names = append(names, d.Name)
		line[d.Name] = d.Value
	}
	// Each line also counts under the stage alone, so an alarm can watch
	// every recipe (or step) at once without a search expression.
	sets := [][]string{names}
	if len(names) > 1 {
		sets = append(sets, []string{"stage"})
	}
	defs := make([]map[string]string, 0, len(ms))
	for _, m := range ms {
		defs = append(defs, map[string]string{"Name": m.Name, "Unit": m.Unit})
		line[m.Name] = m.Value
	}
	line["_aws"] = map[string]any{
		"Timestamp": t.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": sets,
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("metric: encode: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("metric: write: %w", err)
	}
	return nil
}
