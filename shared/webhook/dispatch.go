package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/job"
)

// Payload is the body of every delivery.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// JobData is the data of a job event. For job.progress, Status is
// "running", Step the step that succeeded, Progress the job's progress
// (0-100) after it, and FinishedAt the step's end.
type JobData struct {
	JobID      uuid.UUID `json:"job_id"`
	AssetID    uuid.UUID `json:"asset_id"`
	Recipe     string    `json:"recipe"`
	Status     string    `json:"status"`
	Error      *string   `json:"error"`
	FinishedAt time.Time `json:"finished_at"`
	Step       string    `json:"step,omitempty"`
	Progress   *float64  `json:"progress,omitempty"`
}

// data is the payload data of e.
func data(e job.Event) JobData {
	d := JobData{JobID: e.JobID, AssetID: e.AssetID, Recipe: string(e.Recipe), Status: strings.TrimPrefix(e.Type, "job."),
		Error: e.Error, FinishedAt: e.FinishedAt.UTC()}
	if e.Type == JobProgress {
		d.Status, d.Step, d.Progress = string(job.Running), e.Step, e.Progress
	}
	return d
}

// Message is what travels on the webhook queue: a delivery id.
type Message struct {
	V          int       `json:"v"`
	DeliveryID uuid.UUID `json:"delivery_id"`
}

// SendMessageAPI is the SQS call a Queue makes.
type SendMessageAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Queue sends delivery messages to the webhook queue (WEBHOOK_QUEUE_URL).
type Queue struct {
	Client SendMessageAPI
	URL    string
}

// Send enqueues one delivery.
func (q Queue) Send(ctx context.Context, deliveryID uuid.UUID) error {
	return q.SendAfter(ctx, deliveryID, 0)
}

// SendAfter enqueues one delivery, received after delay (whole seconds, at
// most MaxQueueDelay).
func (q Queue) SendAfter(ctx context.Context, deliveryID uuid.UUID, delay time.Duration) error {
	if q.URL == "" {
		return fmt.Errorf("send webhook delivery %s: no queue URL configured (set WEBHOOK_QUEUE_URL)", deliveryID)
	}
	body, err := json.Marshal(Message{V: 1, DeliveryID: deliveryID})
	if err != nil {
		return fmt.Errorf("encode webhook message: %w", err)
	}
	b := string(body)
	secs := int32(min(max(delay, 0), MaxQueueDelay).Round(time.Second) / time.Second) //nolint:gosec // at most 900
	if _, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.URL, MessageBody: &b, DelaySeconds: secs}); err != nil {
		return fmt.Errorf("send webhook delivery %s: %w", deliveryID, err)
	}
	return nil
}

// Events are the job-event outbox calls Dispatch makes (shared/job owns it).
type Events interface {
	UndispatchedEventsTx(ctx context.Context, tx pgx.Tx, limit int) ([]job.Event, error)
	MarkDispatchedTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error
}

// Sender enqueues a delivery.
type Sender interface {
	Send(ctx context.Context, deliveryID uuid.UUID) error
}

// Dispatch turns job events into deliveries, one per enabled endpoint of
// the job's owner that subscribes to the event, and marks the events
// dispatched in the same transaction; then it sends a message per delivery,
// and re-sends deliveries whose message was never sent. It returns how many
// messages it sent. A send that fails leaves its delivery unsent for the
// next run.
func (s *Store) Dispatch(ctx context.Context, events Events, q Sender, limit int) (int, error) {
	var ids []uuid.UUID
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		ids = nil
		evs, err := events.UndispatchedEventsTx(ctx, tx, limit)
		if err != nil || len(evs) == 0 {
			return err
		}
		done := make([]uuid.UUID, 0, len(evs))
		for _, e := range evs {
			payload, err := json.Marshal(Payload{Type: e.Type, Timestamp: e.FinishedAt.UTC(), Data: data(e)})
			if err != nil {
				return fmt.Errorf("encode event %s: %w", e.ID, err)
			}
			rows, err := tx.Query(ctx, `
				INSERT INTO webhook_deliveries (id, webhook_id, event_id, type, payload)
				SELECT gen_random_uuid(), w.id, $2, $3, $4 FROM webhooks w
				WHERE w.user_id = $1 AND w.disabled_at IS NULL AND $3 = ANY (w.events)
				ON CONFLICT (webhook_id, event_id) DO NOTHING RETURNING id`, e.UserID, e.ID, e.Type, string(payload))
			if err != nil {
				return fmt.Errorf("create deliveries of event %s: %w", e.ID, err)
			}
			created, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return fmt.Errorf("create deliveries of event %s: %w", e.ID, err)
			}
			ids = append(ids, created...)
			done = append(done, e.ID)
		}
		return events.MarkDispatchedTx(ctx, tx, done)
	})
	if err != nil {
		return 0, fmt.Errorf("dispatch job events: %w", err)
	}
	unsent, err := s.Unsent(ctx, 2*time.Minute, limit)
	if err != nil {
		return 0, err
	}
	sent := 0
	var firstErr error
	for _, id := range append(ids, unsent...) {
		if err := s.SendOne(ctx, q, id); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		sent++
	}
	return sent, firstErr
}

// SendOne sends a delivery's message and records that it was sent.
func (s *Store) SendOne(ctx context.Context, q Sender, id uuid.UUID) error {
	if err := q.Send(ctx, id); err != nil {
		return err
	}
	return s.MarkSent(ctx, id)
}
