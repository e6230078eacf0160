package schedule_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/invoke"
	"github.com/redub/redub/local/schedule"
	"github.com/redub/redub/local/template"
)

type recorder struct {
	mu     sync.Mutex
	events []events.EventBridgeEvent
	fns    []string
}

func (r *recorder) Invoke(_ context.Context, fn string, payload []byte) (invoke.Result, error) {
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return invoke.Result{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.fns = append(r.fns, fn)
	return invoke.Result{Payload: []byte(`{}`)}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// The scheduler fires at the times the expression gives, on a clock the test
// moves: a rate(5 minutes) schedule fires at :00, :05, :10...
func TestSchedulesFireOnTheirTimes(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := schedule.New([]template.Schedule{
		{Name: "SweeperFunction.EveryFive", Function: "SweeperFunction", Expression: "rate(5 minutes)", Enabled: true},
		{Name: "OffFunction.Never", Function: "OffFunction", Expression: "rate(1 minute)", Enabled: false},
	}, rec, "us-east-1", "000000000000", slog.New(slog.NewTextHandler(io.Discard, nil)))

	var mu sync.Mutex
	now := time.Date(2026, 11, 25, 12, 3, 30, 0, time.UTC)
	var waits []time.Duration
	s.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s.After = func(d time.Duration) <-chan time.Time {
		mu.Lock()
		waits = append(waits, d)
		now = now.Add(d)
		mu.Unlock()
		c := make(chan time.Time, 1)
		c <- now
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	require.Eventually(t, func() bool { return rec.count() >= 3 }, 5*time.Second, time.Millisecond)
	cancel()
	<-done

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 90*time.Second, waits[0], "the first firing is at 12:05:00")
	require.Equal(t, 5*time.Minute, waits[1])
	for i, ev := range rec.events[:3] {
		require.Equal(t, "Scheduled Event", ev.DetailType)
		require.Equal(t, "aws.events", ev.Source)
		require.Equal(t, time.Date(2026, 11, 25, 12, 5+5*i, 0, 0, time.UTC), ev.Time)
		require.Equal(t, []string{"arn:aws:events:us-east-1:000000000000:rule/SweeperFunction.EveryFive"}, ev.Resources)
		require.Equal(t, "SweeperFunction", rec.fns[i])
	}
	require.Equal(t, map[string]int{"SweeperFunction.EveryFive": len(rec.events)}, s.Fired(), "a disabled schedule never fires")
}

func TestFireUnknownSchedule(t *testing.T) {
	t.Parallel()
	s := schedule.New(nil, &recorder{}, "us-east-1", "000000000000", slog.New(slog.NewTextHandler(io.Discard, nil)))
	_, err := s.Fire(context.Background(), "Nope")
	require.ErrorContains(t, err, "no schedule")
}
