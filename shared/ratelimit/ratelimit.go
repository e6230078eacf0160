package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// expiryMargin is how long a window's row outlives the window; see the
// package documentation.
const expiryMargin = time.Minute

// Querier is what a Limiter needs from the database; a *postgres.DB has it.
//
// Give it a pool, not a transaction: a count taken inside a caller's
// transaction holds the bucket's row lock until that transaction ends, which
// serialises every other request on the bucket behind it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Limiter counts requests in rate_limits. It is safe for concurrent use, and
// any number of Limiters (in any number of processes) may share one database.
type Limiter struct {
	db  Querier
	now func() time.Time
}

// New returns a Limiter that counts in db and reads the time from now
// (time.Now when nil).
func New(db Querier, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{db: db, now: now}
}

// Decision is the outcome of one Allow call.
type Decision struct {
	Allowed   bool
	Limit     int           // the limit the request was counted against
	Remaining int           // requests still allowed in this window (0 once refused)
	Reset     time.Duration // until the current window ends and the count starts again
}

// allowSQL counts one request; it returns no row when the window is full.
const allowSQL = `
INSERT INTO rate_limits AS r (bucket, window_start, count, expires_at)
VALUES ($1, $2, 1, $3)
ON CONFLICT (bucket, window_start) DO UPDATE SET count = r.count + 1
WHERE r.count < $4
RETURNING count`

// Allow counts one request against bucket in the current window of length
// window and says whether it may proceed. At most limit requests per bucket
// and window are allowed, however many callers race; refused requests are not
// counted.
//
// limit must be between 1 and 2^31-1, window a whole number of seconds, and
// bucket not empty; otherwise Allow returns an error without touching the
// database. A database failure is returned wrapped, with a zero Decision.
func (l *Limiter) Allow(ctx context.Context, bucket string, limit int, window time.Duration) (Decision, error) {
	if bucket == "" {
		return Decision{}, errors.New("ratelimit: empty bucket")
	}
	if err := validate(limit, window); err != nil {
		return Decision{}, err
	}
	now := l.now()
	start := windowStart(now, window)
	end := start.Add(window)

	var count int
	err := l.db.QueryRow(ctx, allowSQL, bucket, start, end.Add(expiryMargin), limit).Scan(&count)
	d := Decision{Limit: limit, Reset: end.Sub(now)}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return d, nil
	case err != nil:
		return Decision{}, fmt.Errorf("ratelimit: count request: %w", err)
	}
	d.Allowed = true
	d.Remaining = max(limit-count, 0)
	return d, nil
}

// Cleanup deletes the rows whose windows (plus the expiry margin) are over and
// returns how many it deleted. Rows of current windows are never deleted.
func (l *Limiter) Cleanup(ctx context.Context) (int64, error) {
	tag, err := l.db.Exec(ctx, `DELETE FROM rate_limits WHERE expires_at < $1`, l.now())
	if err != nil {
		return 0, fmt.Errorf("ratelimit: delete expired counters: %w", err)
	}
	return tag.RowsAffected(), nil
}

// validate checks a limit and a window. Whole seconds keep the headers exact
// and window starts within Postgres's microsecond precision.
func validate(limit int, window time.Duration) error {
	if limit < 1 || limit > math.MaxInt32 {
		return fmt.Errorf("ratelimit: limit %d out of range [1, %d]", limit, math.MaxInt32)
	}
	if window < time.Second || window%time.Second != 0 {
		return fmt.Errorf("ratelimit: window %s is not a positive whole number of seconds", window)
	}
	return nil
}

// windowStart returns the start of the window of length w holding t, with
// windows aligned on the Unix epoch so every process cuts time the same way.
func windowStart(t time.Time, w time.Duration) time.Time {
	ns := t.UnixNano()
	off := ns % int64(w)
	if off < 0 {
		off += int64(w)
	}
	return time.Unix(0, ns-off).UTC()
}
