// Package schedule is the local stand-in for EventBridge schedules: it fires
// each schedule of template.yaml at its rate or cron times, and on demand
// (`redub dev fire <name>`), invoking the target function with the same
// "Scheduled Event" AWS sends.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/local/invoke"
	"github.com/redub/redub/local/template"
)

// Scheduler runs the template's schedules.
type Scheduler struct {
	schedules map[string]template.Schedule
	inv       invoke.Invoker
	region    string
	account   string
	log       *slog.Logger

	mu    sync.Mutex
	fired map[string]int
	last  map[string]time.Time

	// Clock, for tests: the current time and a timer. Default: the real ones.
	Now   func() time.Time
	After func(d time.Duration) <-chan time.Time
}

// New returns a scheduler for schedules, invoking through inv.
func New(schedules []template.Schedule, inv invoke.Invoker, region, account string, log *slog.Logger) *Scheduler {
	m := make(map[string]template.Schedule, len(schedules))
	for _, s := range schedules {
		m[s.Name] = s
	}
	return &Scheduler{schedules: m, inv: inv, region: region, account: account, log: log,
		fired: map[string]int{}, last: map[string]time.Time{}, Now: time.Now, After: time.After}
}

// Names lists the schedules, sorted.
func (s *Scheduler) Names() []string {
	out := make([]string, 0, len(s.schedules))
	for n := range s.schedules {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Run fires every enabled schedule at its times until ctx is done.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, sch := range s.schedules {
		if !sch.Enabled {
			continue
		}
		wg.Go(func() { s.loop(ctx, sch) })
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, sch template.Schedule) {
	now := s.Now()
	for {
		next, err := sch.Next(now)
		if err != nil {
			s.log.Error("schedule stopped", "schedule", sch.Name, "error", err.Error())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.After(next.Sub(s.Now())):
		}
		now = next
		if _, err := s.Fire(ctx, sch.Name); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled invoke failed", "schedule", sch.Name, "error", err.Error())
		}
	}
}

// Fire invokes the schedule's function now and returns its result. An
// unknown name is an error listing the known ones.
func (s *Scheduler) Fire(ctx context.Context, name string) (invoke.Result, error) {
	sch, ok := s.schedules[name]
	if !ok {
		return invoke.Result{}, fmt.Errorf("no schedule %q in template.yaml (have %v)", name, s.Names())
	}
	payload, err := s.Event(sch, s.Now())
	if err != nil {
		return invoke.Result{}, err
	}
	res, err := s.inv.Invoke(ctx, sch.Function, payload)
	s.mu.Lock()
	s.fired[name]++
	s.last[name] = s.Now()
	s.mu.Unlock()
	if err != nil {
		return res, fmt.Errorf("fire %s: %w", name, err)
	}
	if res.FunctionError != "" {
		return res, fmt.Errorf("fire %s: function error %s: %s", name, res.FunctionError, res.Payload)
	}
	return res, nil
}

// Fired returns how often each schedule fired.
func (s *Scheduler) Fired() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.fired))
	for k, v := range s.fired {
		out[k] = v
	}
	return out
}

// Event returns the payload EventBridge sends for sch: the schedule's Input
// when it has one, else a "Scheduled Event".
func (s *Scheduler) Event(sch template.Schedule, at time.Time) ([]byte, error) {
	if sch.Input != "" {
		if !json.Valid([]byte(sch.Input)) {
			return nil, fmt.Errorf("schedule %s: Input is not valid JSON", sch.Name)
		}
		return []byte(sch.Input), nil
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	ev := events.EventBridgeEvent{
		Version:    "0",
		ID:         id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32],
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		AccountID:  s.account,
		Time:       at.UTC().Truncate(time.Second),
		Region:     s.region,
		Resources:  []string{fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", s.region, s.account, sch.Name)},
		Detail:     json.RawMessage(`{}`),
	}
	out, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode scheduled event: %w", err)
	}
	return out, nil
}
