package job

// This file is edit and re-render: a voiceover job's segments are edited
// (job_segment_edits) and the job is rendered again as revision n+1, which
// runs synthesize and mix once more. The steps of the new revision write
// their files under jobs/<job>/r<n>/ (script.Key), so the outputs of the
// previous revision stay downloadable until the new mix succeeds and its
// outputs replace them (one row per kind). It takes its locks through lock,
// in state.go's order.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
)

// Edit is one segment's edited fields; nil fields are unchanged.
type Edit struct {
	Segment     int       `json:"segment"`
	Text        *string   `json:"text,omitempty"`
	Translation *string   `json:"translation,omitempty"`
	Speaker     *string   `json:"speaker,omitempty"`
	Voice       *string   `json:"voice,omitempty"`
	Start       *float64  `json:"start,omitempty"`
	End         *float64  `json:"end,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Edits returns the edits of a job, by segment. The steps call it; it does
// not check an owner.
func (s *Store) Edits(ctx context.Context, jobID uuid.UUID) (map[int]Edit, error) {
	rows, err := s.db.Query(ctx, `SELECT segment, text, translation, speaker, voice, start_s, end_s, updated_at
		FROM job_segment_edits WHERE job_id = $1 ORDER BY segment`, jobID)
	if err != nil {
		return nil, fmt.Errorf("read edits of job %s: %w", jobID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Edit, error) {
		var e Edit
		err := r.Scan(&e.Segment, &e.Text, &e.Translation, &e.Speaker, &e.Voice, &e.Start, &e.End, &e.UpdatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read edits of job %s: %w", jobID, err)
	}
	out := make(map[int]Edit, len(list))
	for _, e := range list {
		out[e.Segment] = e
	}
	return out, nil
}

// editable locks the user's job and checks that its segments may be edited
// or re-rendered: a voiceover job that succeeded, or whose re-render failed
// (an earlier revision is there to start from; a job whose first render
// failed has none, and is retried instead).
func editable(ctx context.Context, tx pgx.Tx, userID, jobID uuid.UUID) (Recipe, Status, int, error) {
	var (
		recipe   Recipe
		status   Status
		revision int
	)
	err := tx.QueryRow(ctx, `SELECT recipe, status, revision FROM jobs WHERE id = $1 AND user_id = $2 FOR UPDATE`, jobID, userID).
		Scan(&recipe, &status, &revision)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", 0, apperr.New(apperr.NotFound, "job %s not found", jobID)
	}
	if err != nil {
		return "", "", 0, fmt.Errorf("lock job: %w", err)
	}
	if recipe != Voiceover {
		return "", "", 0, apperr.New(apperr.Conflict, "only voiceover jobs can be edited and re-rendered; job %s is %s", jobID, recipe)
	}
	if status != Succeeded && (status != Failed || revision < 2) {
		return "", "", 0, apperr.New(apperr.Conflict, "job %s is %s; a voiceover can be edited once it has succeeded", jobID, status)
	}
	return recipe, status, revision, nil
}

// SaveEdit records the fields of e that are set over the segment's earlier
// edit, for the user's job, and returns the segment's edit as it now
// stands. check is called in the transaction with the edit as it would
// stand, to refuse one that does not fit the transcript (times outside the
// neighbours' bounds, a segment that does not exist). Another user's job is
// NotFound; a job that is not a finished voiceover is a Conflict.
func (s *Store) SaveEdit(ctx context.Context, userID, jobID uuid.UUID, e Edit, check func(Edit) error) (Edit, error) {
	var out Edit
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		if _, _, _, err := editable(ctx, tx, userID, jobID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO job_segment_edits AS e (job_id, segment, text, translation, speaker, voice, start_s, end_s)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (job_id, segment) DO UPDATE SET
				text = coalesce(EXCLUDED.text, e.text), translation = coalesce(EXCLUDED.translation, e.translation),
				speaker = coalesce(EXCLUDED.speaker, e.speaker), voice = coalesce(EXCLUDED.voice, e.voice),
				start_s = coalesce(EXCLUDED.start_s, e.start_s), end_s = coalesce(EXCLUDED.end_s, e.end_s), updated_at = now()
			RETURNING segment, text, translation, speaker, voice, start_s, end_s, updated_at`,
			jobID, e.Segment, e.Text, e.Translation, e.Speaker, e.Voice, e.Start, e.End).
			Scan(&out.Segment, &out.Text, &out.Translation, &out.Speaker, &out.Voice, &out.Start, &out.End, &out.UpdatedAt)
		if err != nil {
			return fmt.Errorf("save edit: %w", err)
		}
		if check != nil {
			return check(out) // an error rolls the edit back
		}
		return nil
	})
	if err != nil {
		return Edit{}, err
	}
	return out, nil
}

// Rerender starts revision n+1 of the user's succeeded voiceover job:
// synthesize is queued again (a new dispatch), mix is pending, the job is
// running. The same idempotency key gives the revision it started before
// (created false). It needs an edit made since the current revision
// started; otherwise it is a Conflict. The caller sends d after the commit
// (Store.Send); if that fails, the sweeper sends it.
func (s *Store) Rerender(ctx context.Context, userID, jobID uuid.UUID, key string) (j Job, d *Dispatch, created bool, err error) {
	err = s.db.WithTx(ctx, func(tx pgx.Tx) error {
		d, created = nil, false
		_, _, revision, err := editable(ctx, tx, userID, jobID)
		var conflict *apperr.Error
		if err != nil && (!errors.As(err, &conflict) || conflict.Code != apperr.Conflict) {
			return err
		}
		var existing int
		qerr := tx.QueryRow(ctx, `SELECT revision FROM job_revisions WHERE job_id = $1 AND idempotency_key = $2`, jobID, key).Scan(&existing)
		switch {
		case qerr == nil:
			j, err = get(ctx, tx, userID, jobID)
			return err
		case !errors.Is(qerr, pgx.ErrNoRows):
			return fmt.Errorf("look up re-render key: %w", qerr)
		case err != nil:
			return err
		}
		var changed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM job_segment_edits e WHERE e.job_id = $1 AND e.updated_at >
				coalesce((SELECT max(created_at) FROM job_revisions WHERE job_id = $1), (SELECT created_at FROM jobs WHERE id = $1)))`,
			jobID).Scan(&changed); err != nil {
			return fmt.Errorf("look for edits: %w", err)
		}
		if !changed {
			return apperr.New(apperr.Conflict, "no segment was edited since revision %d; edit one with PATCH /jobs/%s/segments/{n} first", revision, jobID)
		}
		l, err := lock(ctx, tx, jobID, StepSynthesize)
		if err != nil {
			return err
		}
		if !l.stepFound {
			return apperr.New(apperr.Conflict, "job %s has no synthesize step", jobID)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO job_revisions (job_id, revision, idempotency_key) VALUES ($1, $2, $3)`,
			jobID, revision+1, key); err != nil {
			return fmt.Errorf("record revision: %w", err)
		}
		next := Dispatch{JobID: jobID, Step: StepSynthesize, TraceID: l.trace}
		if err := tx.QueryRow(ctx, `UPDATE job_steps SET status = 'queued', attempts = 0, error = NULL, progress_percent = 0,
			progress_stage = '', usage = '{}', started_at = NULL, finished_at = NULL, enqueued_at = NULL, dispatch = dispatch + 1,
			updated_at = now() WHERE job_id = $1 AND step = $2 RETURNING dispatch`, jobID, StepSynthesize).Scan(&next.Attempt); err != nil {
			return fmt.Errorf("queue synthesize: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE job_steps SET status = 'pending', attempts = 0, error = NULL, progress_percent = 0,
			progress_stage = '', started_at = NULL, finished_at = NULL, enqueued_at = NULL, updated_at = now()
			WHERE job_id = $1 AND position > $2`, jobID, l.position); err != nil {
			return fmt.Errorf("reset later steps: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'running', revision = revision + 1, error = NULL, finished_at = NULL,
			updated_at = now() WHERE id = $1`, jobID); err != nil {
			return fmt.Errorf("start revision: %w", err)
		}
		d, created = &next, true
		j, err = get(ctx, tx, userID, jobID)
		return err
	})
	if err != nil {
		return Job{}, nil, false, err
	}
	return j, d, created, nil
}
