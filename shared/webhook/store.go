package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/postgres"
)

// The event types an endpoint can subscribe to, and the test event.
const (
	JobSucceeded = job.EventSucceeded
	JobFailed    = job.EventFailed
	JobCanceled  = job.EventCanceled
	JobProgress  = job.EventProgress // a step succeeded (not the last); at most once per step
	TestEvent    = "webhook.test"
)

// EventTypes are the types an endpoint may subscribe to.
func EventTypes() []string { return []string{JobSucceeded, JobFailed, JobCanceled, JobProgress} }

// EndTypes are the job ends, what an endpoint that names no events gets.
func EndTypes() []string { return []string{JobSucceeded, JobFailed, JobCanceled} }

// MaxPerUser is how many endpoints one user may have.
const MaxPerUser = 20

// Webhook is an endpoint as the API shows it. Secret is set only in the
// answer to its creation.
type Webhook struct {
	ID             uuid.UUID  `json:"id"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	Events         []string   `json:"events"`
	Secret         string     `json:"secret,omitempty"`
	Enabled        bool       `json:"enabled"`
	DisabledAt     *time.Time `json:"disabled_at"`
	DisabledReason *string    `json:"disabled_reason"`
	CreatedAt      time.Time  `json:"created_at"`
}

// Attempt is one try of a delivery.
type Attempt struct {
	Attempt    int       `json:"attempt"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS int       `json:"duration_ms"`
	Status     *int      `json:"status"`
	Error      *string   `json:"error"`
}

// Delivery is one event for one endpoint, with its attempts.
type Delivery struct {
	ID         uuid.UUID       `json:"id"`
	Type       string          `json:"type"`
	Status     string          `json:"status"`
	Attempts   []Attempt       `json:"attempts"`
	Payload    json.RawMessage `json:"payload"`
	CreatedAt  time.Time       `json:"created_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

// Store reads and writes the webhook tables.
type Store struct{ db *postgres.DB }

// NewStore returns a Store over db.
func NewStore(db *postgres.DB) *Store { return &Store{db: db} }

// NewWebhook is what Create needs.
type NewWebhook struct {
	UserID         uuid.UUID
	URL            string
	Description    string
	Events         []string
	IdempotencyKey string
	RequestHash    []byte
}

// ValidEvents checks a subscription list: known types, no repeats; empty
// means every job end (job.progress only when named).
func ValidEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return EndTypes(), nil
	}
	var out []string
	for _, e := range events {
		if !slices.Contains(EventTypes(), e) {
			return nil, apperr.InvalidField("events", "events holds %q; the events are %s", e, strings.Join(EventTypes(), ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Create stores an endpoint with a new secret and returns it with the
// secret. The same idempotency key and request give the same endpoint
// (created false, with its secret: the answer the caller may have lost);
// the same key with another request is Unprocessable. Past MaxPerUser
// endpoints it is a Conflict.
func (s *Store) Create(ctx context.Context, n NewWebhook) (Webhook, bool, error) {
	secret, err := NewSecret()
	if err != nil {
		return Webhook{}, false, err
	}
	var (
		w       Webhook
		created bool
	)
	err = s.db.WithTx(ctx, func(tx pgx.Tx) error {
		// One creation at a time per user, so the count below holds.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, n.UserID); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		var hash []byte
		err := tx.QueryRow(ctx, `SELECT id, request_hash, secret FROM webhooks WHERE user_id = $1 AND idempotency_key = $2`,
			n.UserID, n.IdempotencyKey).Scan(&w.ID, &hash, &w.Secret)
		switch {
		case err == nil:
			if string(hash) != string(n.RequestHash) {
				return apperr.New(apperr.Unprocessable, "the Idempotency-Key was used with another request body")
			}
			keep := w.Secret
			w, err = get(ctx, tx, n.UserID, w.ID)
			w.Secret = keep
			return err
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("find webhook by idempotency key: %w", err)
		}
		var count int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhooks WHERE user_id = $1`, n.UserID).Scan(&count); err != nil {
			return fmt.Errorf("count webhooks: %w", err)
		}
		if count >= MaxPerUser {
			return apperr.New(apperr.Conflict, "you have %d webhooks, the most allowed; delete one first", count)
		}
		id := uuid.New()
		if _, err := tx.Exec(ctx, `INSERT INTO webhooks (id, user_id, url, description, events, secret, idempotency_key, request_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, n.UserID, n.URL, n.Description, n.Events, secret, n.IdempotencyKey, n.RequestHash); err != nil {
			return fmt.Errorf("insert webhook: %w", err)
		}
		created = true
		w, err = get(ctx, tx, n.UserID, id)
		w.Secret = secret
		return err
	})
	if err != nil {
		return Webhook{}, false, err
	}
	return w, created, nil
}

const webhookColumns = `id, url, description, events, disabled_at, disabled_reason, created_at`

func scanWebhook(row pgx.Row) (Webhook, error) {
	var w Webhook
	err := row.Scan(&w.ID, &w.URL, &w.Description, &w.Events, &w.DisabledAt, &w.DisabledReason, &w.CreatedAt)
	w.Enabled = w.DisabledAt == nil
	return w, err
}

func get(ctx context.Context, q postgres.Querier, userID, id uuid.UUID) (Webhook, error) {
	w, err := scanWebhook(q.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND user_id = $2`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return w, apperr.New(apperr.NotFound, "webhook %s not found", id)
	}
	if err != nil {
		return w, fmt.Errorf("get webhook: %w", err)
	}
	return w, nil
}

// List returns the user's endpoints, oldest first (at most MaxPerUser).
func (s *Store) List(ctx context.Context, userID uuid.UUID) ([]Webhook, error) {
	rows, err := s.db.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Webhook, error) { return scanWebhook(r) })
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return ws, nil
}

// Delete removes an endpoint and its delivery log; another user's is NotFound.
func (s *Store) Delete(ctx context.Context, userID, id uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM webhooks WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.New(apperr.NotFound, "webhook %s not found", id)
	}
	return nil
}

// Deliveries returns the endpoint's latest deliveries (limit, default 50),
// newest first, each with its attempts. Another user's endpoint is NotFound.
func (s *Store) Deliveries(ctx context.Context, userID, id uuid.UUID, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	if _, err := get(ctx, s.db, userID, id); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `
		SELECT d.id, d.type, d.status, d.payload, d.created_at, d.finished_at,
		       coalesce((SELECT json_agg(json_build_object('attempt', a.attempt, 'started_at', a.started_at,
		           'duration_ms', a.duration_ms, 'status', a.status, 'error', a.error) ORDER BY a.attempt)
		         FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]')
		FROM webhook_deliveries d WHERE d.webhook_id = $1 ORDER BY d.created_at DESC, d.id LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var attempts []byte
		if err := r.Scan(&d.ID, &d.Type, &d.Status, &d.Payload, &d.CreatedAt, &d.FinishedAt, &attempts); err != nil {
			return d, err
		}
		return d, json.Unmarshal(attempts, &d.Attempts)
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, nil
}

// CreateTest queues a webhook.test delivery to the user's endpoint (also
// to a disabled one: the test is how a fixed endpoint is checked; its
// success enables it again). Another user's endpoint is NotFound.
func (s *Store) CreateTest(ctx context.Context, userID, id uuid.UUID, now time.Time) (uuid.UUID, error) {
	if _, err := get(ctx, s.db, userID, id); err != nil {
		return uuid.Nil, err
	}
	deliveryID := uuid.New()
	payload, err := json.Marshal(Payload{Type: TestEvent, Timestamp: now.UTC(), Data: map[string]any{"webhook_id": id}})
	if err != nil {
		return uuid.Nil, fmt.Errorf("encode test event: %w", err)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, type, payload) VALUES ($1, $2, $3, $4)`,
		deliveryID, id, TestEvent, string(payload)); err != nil {
		return uuid.Nil, fmt.Errorf("insert test delivery: %w", err)
	}
	return deliveryID, nil
}

// MarkSent records that a delivery's message is on the queue.
func (s *Store) MarkSent(ctx context.Context, id uuid.UUID) error {
	if _, err := s.db.Exec(ctx, `UPDATE webhook_deliveries SET sent_at = now() WHERE id = $1 AND sent_at IS NULL`, id); err != nil {
		return fmt.Errorf("mark delivery sent: %w", err)
	}
	return nil
}

// Unsent returns pending deliveries whose message is not on the queue and
// is due: a retry whose wait has passed, or a new delivery older than grace
// (its sender died between commit and send).
func (s *Store) Unsent(ctx context.Context, grace time.Duration, limit int) ([]uuid.UUID, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM webhook_deliveries WHERE sent_at IS NULL AND status = 'pending'
		AND coalesce(next_attempt_at, created_at + make_interval(secs => $1)) <= now() ORDER BY created_at LIMIT $2`, grace.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("list unsent deliveries: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list unsent deliveries: %w", err)
	}
	return ids, nil
}

// markUnsent leaves a delivery for the sweeper after its message could not
// be sent.
func (s *Store) markUnsent(ctx context.Context, id uuid.UUID) error {
	_, err := s.db.Exec(ctx, `UPDATE webhook_deliveries SET sent_at = NULL WHERE id = $1 AND status = 'pending'`, id)
	return wrap(err, "mark delivery unsent")
}

// claim is a delivery taken for one attempt.
type claim struct {
	WebhookID uuid.UUID
	URL       string
	Secret    string
	Disabled  bool
	Type      string
	Payload   []byte
	Attempt   int // this attempt's number, from 1
}

// errBusy means another attempt of the delivery holds it.
var errBusy = errors.New("another attempt holds this delivery")

// claim leases a pending delivery for one attempt (lease long enough for
// Timeout). It returns nil for a delivery that is gone or already done,
// and errBusy while another attempt holds it.
func (s *Store) claim(ctx context.Context, id uuid.UUID, lease time.Duration) (*claim, error) {
	var c claim
	err := s.db.QueryRow(ctx, `
		UPDATE webhook_deliveries d SET attempts = d.attempts + 1, leased_until = now() + make_interval(secs => $2), updated_at = now()
		FROM webhooks w
		WHERE d.id = $1 AND w.id = d.webhook_id AND d.status = 'pending' AND (d.leased_until IS NULL OR d.leased_until < now())
		RETURNING w.id, w.url, w.secret, w.disabled_at IS NOT NULL, d.type, d.payload, d.attempts`, id, lease.Seconds()).
		Scan(&c.WebhookID, &c.URL, &c.Secret, &c.Disabled, &c.Type, &c.Payload, &c.Attempt)
	if err == nil {
		return &c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("claim delivery: %w", err)
	}
	var status string
	var leased bool
	err = s.db.QueryRow(ctx, `SELECT status, coalesce(leased_until > now(), false) FROM webhook_deliveries WHERE id = $1`, id).Scan(&status, &leased)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read delivery: %w", err)
	case status == "pending" && leased:
		return nil, errBusy
	}
	return nil, nil
}

// outcome is how an attempt ended.
type outcome struct {
	Started  time.Time
	Duration time.Duration
	Status   int           // 0: no answer
	Error    string        // "" on success
	Final    bool          // no retry left: the delivery fails and the endpoint is disabled
	Wait     time.Duration // before the next attempt, when not final
	Queued   bool          // the next attempt's message is sent now (with a delay); else the sweeper sends it when due
}

// record stores an attempt and moves the delivery on: succeeded, failed
// (and its endpoint disabled with reason) or pending for the next attempt.
// A success enables a disabled endpoint again (its test passed).
func (s *Store) record(ctx context.Context, id uuid.UUID, c *claim, o outcome, disableReason string) error {
	return s.db.WithTx(ctx, func(tx pgx.Tx) error {
		var status, errText any
		if o.Status != 0 {
			status = o.Status
		}
		if o.Error != "" {
			errText = truncate(o.Error, 1000)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status, error)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			id, c.Attempt, o.Started, o.Duration.Milliseconds(), status, errText); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		next := "pending"
		switch {
		case o.Error == "":
			next = "succeeded"
		case o.Final:
			next = "failed"
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, last_status = $3, last_error = $4, leased_until = NULL,
			updated_at = now(), finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END,
			next_attempt_at = CASE WHEN $2 = 'pending' THEN now() + make_interval(secs => $5) END,
			sent_at = CASE WHEN $2 = 'pending' AND NOT $6 THEN NULL ELSE sent_at END WHERE id = $1`,
			id, next, status, errText, o.Wait.Seconds(), o.Queued); err != nil {
			return fmt.Errorf("update delivery: %w", err)
		}
		switch {
		case next == "succeeded" && c.Disabled:
			_, err := tx.Exec(ctx, `UPDATE webhooks SET disabled_at = NULL, disabled_reason = NULL, updated_at = now() WHERE id = $1`, c.WebhookID)
			return wrap(err, "enable webhook")
		case next == "failed" && disableReason != "":
			_, err := tx.Exec(ctx, `UPDATE webhooks SET disabled_at = now(), disabled_reason = $2, updated_at = now()
				WHERE id = $1 AND disabled_at IS NULL`, c.WebhookID, truncate(disableReason, 1000))
			return wrap(err, "disable webhook")
		}
		return nil
	})
}

// drop ends a delivery that will not be attempted (its endpoint is disabled).
func (s *Store) drop(ctx context.Context, id uuid.UUID, reason string) error {
	_, err := s.db.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', last_error = $2, leased_until = NULL,
		attempts = greatest(attempts - 1, 0), updated_at = now(), finished_at = now() WHERE id = $1 AND status = 'pending'`, id, reason)
	return wrap(err, "drop delivery")
}

func wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
