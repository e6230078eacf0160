package ratelimit_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
	"github.com/redub/redub/shared/ratelimit"
)

// t0 is 20 seconds into a minute, so a one-minute window has 40 seconds left.
var t0 = time.Date(2031, 5, 6, 7, 8, 20, 0, time.UTC)

// clock is a settable time source shared by the limiters of a test.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.Set(t)
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type bundle struct {
	db      *postgres.DB
	clock   *clock
	limiter *ratelimit.Limiter
}

func setup(t testing.TB) bundle {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	db := pgtest.New(t)
	c := newClock(t0)
	return bundle{db: db, clock: c, limiter: ratelimit.New(db, c.Now)}
}

// stored returns the counts kept for bucket, oldest window first.
func stored(t *testing.T, db *postgres.DB, bucket string) []int {
	t.Helper()
	rows, err := db.Query(t.Context(), `SELECT count FROM rate_limits WHERE bucket = $1 ORDER BY window_start`, bucket)
	require.NoError(t, err)
	var counts []int
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		counts = append(counts, n)
	}
	require.NoError(t, rows.Err())
	return counts
}

func TestAllowCountsUpToTheLimit(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()
	for i, want := range []int{2, 1, 0} {
		d, err := s.limiter.Allow(ctx, "auth:ip:203.0.113.7", 3, time.Minute)
		require.NoError(t, err)
		require.Equal(t, ratelimit.Decision{Allowed: true, Limit: 3, Remaining: want, Reset: time.Duration(40-i) * time.Second}, d, "call %d", i+1)
		s.clock.Advance(time.Second)
	}
	for range 3 {
		d, err := s.limiter.Allow(ctx, "auth:ip:203.0.113.7", 3, time.Minute)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		require.Equal(t, 3, d.Limit)
		require.Zero(t, d.Remaining)
		require.Equal(t, 37*time.Second, d.Reset)
	}
	require.Equal(t, []int{3}, stored(t, s.db, "auth:ip:203.0.113.7"), "refused calls are not counted")
}

func TestAllowResetIsUntilTheWindowEnds(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.clock.Set(time.Date(2031, 5, 6, 7, 59, 59, 250_000_000, time.UTC))
	d, err := s.limiter.Allow(t.Context(), "b", 1, time.Hour)
	require.NoError(t, err)
	require.Equal(t, 750*time.Millisecond, d.Reset, "hour windows are aligned on the hour")

	s.clock.Set(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	d, err = s.limiter.Allow(t.Context(), "c", 1, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, time.Second, d.Reset, "10-second windows start at :00, :10, ...")
}

func TestWindowsRollOver(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()
	allow := func() ratelimit.Decision {
		t.Helper()
		d, err := s.limiter.Allow(ctx, "api:user:1", 2, time.Minute)
		require.NoError(t, err)
		return d
	}
	require.True(t, allow().Allowed)
	require.True(t, allow().Allowed)
	require.False(t, allow().Allowed)

	s.clock.Advance(39*time.Second + 999*time.Millisecond) // the last millisecond of the window
	d := allow()
	require.False(t, d.Allowed)
	require.Equal(t, time.Millisecond, d.Reset)

	s.clock.Advance(time.Millisecond) // the first instant of the next window
	d = allow()
	require.Equal(t, ratelimit.Decision{Allowed: true, Limit: 2, Remaining: 1, Reset: time.Minute}, d)
	require.True(t, allow().Allowed)
	require.False(t, allow().Allowed)

	s.clock.Advance(5 * time.Minute) // idle windows leave no rows behind
	require.True(t, allow().Allowed)
	require.Equal(t, []int{2, 2, 1}, stored(t, s.db, "api:user:1"))
}

func TestBucketsAreIndependent(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()
	for _, b := range []string{"auth:ip:203.0.113.7", "auth:ip:203.0.113.8", "api:ip:203.0.113.7"} {
		d, err := s.limiter.Allow(ctx, b, 1, time.Minute)
		require.NoError(t, err)
		require.True(t, d.Allowed, b)
		d, err = s.limiter.Allow(ctx, b, 1, time.Minute)
		require.NoError(t, err)
		require.False(t, d.Allowed, b)
	}
	// The same bucket with another window length is another counter.
	d, err := s.limiter.Allow(ctx, "auth:ip:203.0.113.7", 1, time.Hour)
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

func TestAllowRejectsBadArguments(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(nil, nil) // never reaches the database
	for _, tc := range []struct {
		bucket string
		limit  int
		window time.Duration
	}{
		{"", 1, time.Second},
		{"b", 0, time.Second},
		{"b", -1, time.Second},
		{"b", 1 << 31, time.Second},
		{"b", 1, 0},
		{"b", 1, 500 * time.Millisecond},
		{"b", 1, 1500 * time.Millisecond},
		{"b", 1, -time.Minute},
	} {
		_, err := l.Allow(t.Context(), tc.bucket, tc.limit, tc.window)
		require.Error(t, err, "%+v", tc)
	}
}

// Each goroutine has its own pool, as each Lambda environment has its own,
// and all of them fire at once: exactly limit are allowed, in every window.
func TestConcurrentCallersGetExactlyTheLimit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	const (
		callers = 50
		limit   = 20
		rounds  = 4
	)
	u := pgtest.NewDatabase(t)
	for _, via := range []struct{ name, url string }{
		{"pgbouncer", u.Pooled},
		{"direct", u.Direct}, // one server connection per caller: the widest race
	} {
		t.Run(via.name, func(t *testing.T) {
			c := newClock(t0)
			limiters := make([]*ratelimit.Limiter, callers)
			for i := range limiters {
				db, err := postgres.New(postgres.Options{URL: via.url, MaxConns: 1})
				require.NoError(t, err)
				t.Cleanup(db.Close)
				require.NoError(t, db.Ping(t.Context()), "warm the pool so the race is the statement, not the connect")
				limiters[i] = ratelimit.New(db, c.Now)
			}
			bucket := "race:" + via.name
			for round := range rounds {
				c.Set(t0.Add(time.Duration(round) * time.Minute))
				start := make(chan struct{})
				var wg sync.WaitGroup
				decisions := make([]ratelimit.Decision, callers)
				errs := make([]error, callers)
				for i, l := range limiters {
					wg.Go(func() {
						<-start
						decisions[i], errs[i] = l.Allow(context.WithoutCancel(t.Context()), bucket, limit, time.Minute)
					})
				}
				close(start)
				wg.Wait()

				var remaining []int
				refused := 0
				for i, d := range decisions {
					require.NoError(t, errs[i], "caller %d", i)
					if d.Allowed {
						remaining = append(remaining, d.Remaining)
					} else {
						refused++
					}
				}
				sort.Ints(remaining)
				want := make([]int, limit)
				for i := range want {
					want[i] = i
				}
				require.Equal(t, want, remaining, "round %d: each allowed caller saw a distinct count", round)
				require.Equal(t, callers-limit, refused, "round %d", round)
			}
			require.Equal(t, slices.Repeat([]int{limit}, rounds), stored(t, mustDB(t, u.Pooled), bucket))
		})
	}
}

func mustDB(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.New(postgres.Options{URL: url})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

func TestCleanupDeletesOnlyExpiredRows(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()
	allow := func(bucket string, window time.Duration) {
		t.Helper()
		_, err := s.limiter.Allow(ctx, bucket, 5, window)
		require.NoError(t, err)
	}
	// At 07:08:20: a minute window ending 07:09 (expires 07:10) and an hour
	// window ending 08:00 (expires 08:01).
	allow("old", time.Minute)
	allow("hourly", time.Hour)
	s.clock.Set(time.Date(2031, 5, 6, 7, 12, 30, 0, time.UTC))
	allow("current", time.Minute) // ends 07:13, expires 07:14

	n, err := s.limiter.Cleanup(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Empty(t, stored(t, s.db, "old"))
	require.Equal(t, []int{1}, stored(t, s.db, "hourly"))
	require.Equal(t, []int{1}, stored(t, s.db, "current"))

	// Within the margin after its window the row is kept...
	s.clock.Set(time.Date(2031, 5, 6, 7, 13, 59, 0, time.UTC))
	n, err = s.limiter.Cleanup(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	// ...and after it, deleted.
	s.clock.Set(time.Date(2031, 5, 6, 8, 1, 0, 1000, time.UTC))
	n, err = s.limiter.Cleanup(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	require.Empty(t, stored(t, s.db, "hourly"))
}

// BenchmarkAllow measures one Allow through PgBouncer and reports the median
// and 99th percentile latency next to ns/op.
func BenchmarkAllow(b *testing.B) {
	s := setup(b)
	ctx := b.Context()
	for _, bc := range []struct {
		name   string
		bucket func(i int) string
	}{
		{"existing-row", func(int) string { return "bench:hot" }},
		{"new-row", func(i int) string { return fmt.Sprintf("bench:%d", i) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := ratelimit.New(s.db, time.Now)
			if _, err := l.Allow(ctx, bc.bucket(-1), 1<<30, time.Hour); err != nil { // connect outside the timing
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				start := time.Now()
				d, err := l.Allow(ctx, bc.bucket(i), 1<<30, time.Hour)
				lat = append(lat, time.Since(start))
				if err != nil || !d.Allowed {
					b.Fatalf("allow: %v %+v", err, d)
				}
				i++
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
