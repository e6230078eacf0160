package steps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/ratelimit"
	"github.com/redub/redub/shared/storage"
)

// DeadLetterReader is the SQS call the sweeper makes on dead-letter queues.
type DeadLetterReader interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
}

// UploadCleaner is the part of storage the sweeper uses for stale uploads.
type UploadCleaner interface {
	AbortMultipart(ctx context.Context, key, uploadID string) error
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// Sweeper runs every minute: it re-sends steps that were queued but never
// sent, fails jobs whose step ran out of attempts or whose message reached a
// dead-letter queue, and removes pending uploads older than a day.
type Sweeper struct {
	DB          *postgres.DB
	Queue       job.Enqueuer
	DeadLetters DeadLetterReader
	DLQURLs     []string
	Uploads     UploadCleaner
	Log         *slog.Logger
	// Cleanup removes expired rows of other tables (rate limits, sessions).
	Cleanup     func(ctx context.Context) error
	MaxAttempts int
	Now         func() time.Time
}

// Report is what one sweep did.
type Report struct {
	Resent, FailedStuck, FailedDeadLetter, UploadsRemoved int
}

// Run does one sweep. It carries on past a failing part and returns the
// parts' errors joined.
func (s *Sweeper) Run(ctx context.Context) (Report, error) {
	var r Report
	var errs []error
	var err error
	if r.Resent, err = s.resend(ctx); err != nil {
		errs = append(errs, err)
	}
	if r.FailedStuck, err = s.failStuck(ctx); err != nil {
		errs = append(errs, err)
	}
	if r.FailedDeadLetter, err = s.failDeadLettered(ctx); err != nil {
		errs = append(errs, err)
	}
	if r.UploadsRemoved, err = s.removeStaleUploads(ctx); err != nil {
		errs = append(errs, err)
	}
	if s.Cleanup != nil {
		if err := s.Cleanup(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.Log.InfoContext(ctx, "sweep", "resent", r.Resent, "failed_stuck", r.FailedStuck,
		"failed_dead_letter", r.FailedDeadLetter, "uploads_removed", r.UploadsRemoved)
	return r, errors.Join(errs...)
}

// resend sends steps that are queued but were never sent (the process that
// finished the previous step died between its commit and the send).
func (s *Sweeper) resend(ctx context.Context) (int, error) {
	rows, err := s.DB.Query(ctx, `
		SELECT st.job_id, st.step, j.trace_id FROM job_steps st JOIN jobs j ON j.id = st.job_id
		WHERE st.status = 'queued' AND st.enqueued_at IS NULL AND st.updated_at < now() - interval '1 minute'
		  AND j.status IN ('queued', 'running')
		ORDER BY st.updated_at LIMIT 100`)
	if err != nil {
		return 0, fmt.Errorf("find unsent steps: %w", err)
	}
	type unsent struct {
		job   uuid.UUID
		step  string
		trace string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (unsent, error) {
		var u unsent
		return u, r.Scan(&u.job, &u.step, &u.trace)
	})
	if err != nil {
		return 0, fmt.Errorf("find unsent steps: %w", err)
	}
	n := 0
	for _, u := range list {
		if err := s.Queue.Send(ctx, queue.Message{JobID: u.job, Step: u.step, Attempt: 1, TraceID: u.trace}); err != nil {
			return n, err
		}
		if _, err := s.DB.Exec(ctx, `UPDATE job_steps SET enqueued_at = now(), updated_at = now() WHERE job_id = $1 AND step = $2`, u.job, u.step); err != nil {
			return n, fmt.Errorf("mark resent: %w", err)
		}
		n++
	}
	return n, nil
}

// failStuck fails jobs whose step used its attempts and then went silent.
func (s *Sweeper) failStuck(ctx context.Context) (int, error) {
	maxAttempts := s.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = 3
	}
	rows, err := s.DB.Query(ctx, `
		SELECT st.job_id, st.step FROM job_steps st JOIN jobs j ON j.id = st.job_id
		WHERE j.status IN ('queued', 'running') AND st.status IN ('running', 'queued')
		  AND st.attempts >= $1 AND st.updated_at < now() - interval '20 minutes'
		LIMIT 100`, maxAttempts)
	if err != nil {
		return 0, fmt.Errorf("find stuck steps: %w", err)
	}
	stuck, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var id uuid.UUID
		var step string
		err := r.Scan(&id, &step)
		return [2]string{id.String(), step}, err
	})
	if err != nil {
		return 0, fmt.Errorf("find stuck steps: %w", err)
	}
	n := 0
	for _, st := range stuck {
		changed, err := s.fail(ctx, st[0], st[1], fmt.Sprintf("%s failed: it did not finish after %d attempts", st[1], maxAttempts))
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// failDeadLettered fails the jobs whose messages reached a dead-letter
// queue. The messages stay there for `redub dlq` (they are only peeked).
func (s *Sweeper) failDeadLettered(ctx context.Context) (int, error) {
	n := 0
	for _, url := range s.DLQURLs {
		out, err := s.DeadLetters.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
			VisibilityTimeout: 30, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			return n, fmt.Errorf("peek dead letters %s: %w", url, err)
		}
		for _, m := range out.Messages {
			msg, err := queue.Decode(*m.Body)
			if err != nil {
				continue // an S3 event (ingest): the asset stays pending and the upload sweep removes it
			}
			reason := fmt.Sprintf("%s failed repeatedly; its message was moved to the dead-letter queue", msg.Step)
			changed, err := s.fail(ctx, msg.JobID.String(), msg.Step, reason)
			if err != nil {
				return n, err
			}
			if changed {
				n++
			}
		}
	}
	return n, nil
}

// fail fails a job that is still going and reports whether it did.
func (s *Sweeper) fail(ctx context.Context, jobID, step, reason string) (bool, error) {
	changed := false
	err := s.DB.WithTx(ctx, func(tx pgx.Tx) error {
		var status job.Status
		err := tx.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1 FOR UPDATE`, jobID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && status.Terminal()) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock job: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'failed', error = $3, finished_at = now(), updated_at = now()
			WHERE job_id = $1 AND step = $2`, jobID, step, reason); err != nil {
			return fmt.Errorf("fail step: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'canceled', finished_at = now(), updated_at = now()
			WHERE job_id = $1 AND status IN ('pending', 'queued')`, jobID); err != nil {
			return fmt.Errorf("cancel later steps: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', error = $2, finished_at = now(), updated_at = now() WHERE id = $1`,
			jobID, reason); err != nil {
			return fmt.Errorf("fail job: %w", err)
		}
		s.Log.WarnContext(ctx, "job failed by the sweeper", "job_id", jobID, "reason", reason)
		changed = true
		return nil
	})
	return changed, err
}

// removeStaleUploads deletes pending uploads older than a day: their
// multipart uploads are aborted, their bytes and rows removed.
func (s *Sweeper) removeStaleUploads(ctx context.Context) (int, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, user_id, object_key, upload_id FROM assets
		WHERE status = 'pending' AND created_at < now() - interval '24 hours' ORDER BY created_at LIMIT 100`)
	if err != nil {
		return 0, fmt.Errorf("find stale uploads: %w", err)
	}
	type stale struct {
		id, user uuid.UUID
		key      string
		upload   *string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stale, error) {
		var st stale
		return st, r.Scan(&st.id, &st.user, &st.key, &st.upload)
	})
	if err != nil {
		return 0, fmt.Errorf("find stale uploads: %w", err)
	}
	n := 0
	for _, st := range list {
		if st.upload != nil {
			if err := s.Uploads.AbortMultipart(ctx, st.key, *st.upload); err != nil {
				return n, err
			}
		}
		if _, err := s.Uploads.DeletePrefix(ctx, fmt.Sprintf("uploads/%s/%s/", st.user, st.id)); err != nil {
			return n, err
		}
		if _, err := s.DB.Exec(ctx, `DELETE FROM assets WHERE id = $1 AND status = 'pending'`, st.id); err != nil {
			return n, fmt.Errorf("delete stale upload: %w", err)
		}
		n++
	}
	return n, nil
}

// NewSweeper builds the sweeper from the function's config; the dead-letter
// queues come from DEAD_LETTER_QUEUE_URLS (comma-separated).
func NewSweeper(ctx context.Context, app *lambdarun.App) (*Sweeper, error) {
	db, err := app.DB()
	if err != nil {
		return nil, err
	}
	awsCfg, err := app.AWS(ctx)
	if err != nil {
		return nil, err
	}
	sqsClient := queue.NewClient(awsCfg, app.Getenv)
	var dlqs []string
	for _, u := range strings.Split(app.Getenv("DEAD_LETTER_QUEUE_URLS"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			dlqs = append(dlqs, u)
		}
	}
	limiter := ratelimit.New(db, nil)
	return &Sweeper{
		DB: db, Queue: queue.NewSender(sqsClient, app.Config.Queues.All()), DeadLetters: sqsClient, DLQURLs: dlqs,
		Uploads: storage.New(storage.NewClient(awsCfg, app.Getenv), app.Config.StorageBucket, storage.Options{}),
		Log:     app.Log,
		Cleanup: func(ctx context.Context) error {
			if _, err := limiter.Cleanup(ctx); err != nil {
				return err
			}
			_, err := db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now() - interval '30 days' OR revoked_at < now() - interval '30 days'`)
			return err
		},
	}, nil
}

// Handle is the scheduled handler: one sweep.
func (s *Sweeper) Handle(ctx context.Context, _ events.EventBridgeEvent) error {
	_, err := s.Run(ctx)
	return err
}
