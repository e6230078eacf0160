package job

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/postgres"
)

// Status is a job's or a step's state.
type Status string

// Job and step states. Steps also use pending and skipped.
const (
	Queued    Status = "queued"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Canceled  Status = "canceled"
	Pending   Status = "pending"
	Skipped   Status = "skipped"
)

// Terminal reports whether no more work happens in this state.
func (s Status) Terminal() bool {
	return s == Succeeded || s == Failed || s == Canceled || s == Skipped
}

// Job is one run of a recipe on an asset.
type Job struct {
	ID         uuid.UUID  `json:"id"`
	UserID     uuid.UUID  `json:"-"`
	AssetID    uuid.UUID  `json:"asset_id"`
	Recipe     Recipe     `json:"recipe"`
	Params     Params     `json:"params"`
	Status     Status     `json:"status"`
	Progress   float64    `json:"progress"` // 0-100 over all steps
	Error      *string    `json:"error"`
	Revision   int        `json:"revision"` // 1, then n+1 per re-render (POST /jobs/{id}/rerender)
	TraceID    string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Steps      []Step     `json:"steps"`
	Outputs    []Output   `json:"outputs"`
}

// Step is one step of a job.
type Step struct {
	Name       string     `json:"name"`
	Position   int        `json:"position"`
	Status     Status     `json:"status"`
	Attempts   int        `json:"attempts"`
	Progress   float64    `json:"progress"`
	Stage      string     `json:"stage"`
	Error      *string    `json:"error"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Parts      StepParts  `json:"parts"`
}

// StepParts is how far a step's parts are (DESIGN.md section 12). A step
// that was not split counts as one part, done when the step succeeded or
// was skipped, so a client reads every step the same way.
type StepParts struct {
	Total int `json:"total"`
	Done  int `json:"done"`
}

// withParts shows the parts p of the step (none: it was not split). A
// running split step's progress is the share of the media's length its
// done parts cover (Parts.Percent), held below 100 until the merge ends
// the step; a step's own progress_percent describes one invocation, not
// the step.
func (s Step) withParts(p Parts) Step {
	if p.Total == 0 {
		s.Parts = StepParts{Total: 1}
		if s.Status == Succeeded || s.Status == Skipped {
			s.Parts.Done = 1
		}
		return s
	}
	s.Parts = StepParts{Total: p.Total, Done: p.Done}
	if s.Status == Running {
		s.Progress = min(p.Percent(), 99)
	}
	return s
}

// Output is a file a job produced, downloadable through GET /assets/{id}/download.
type Output struct {
	ID          uuid.UUID `json:"id"`
	Step        string    `json:"step"`
	Kind        string    `json:"kind"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	SizeBytes   int64     `json:"size_bytes"`
	ObjectKey   string    `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
}

// Store reads and writes jobs.
type Store struct{ db *postgres.DB }

// NewStore returns a Store over db.
func NewStore(db *postgres.DB) *Store { return &Store{db: db} }

// NewJob is what Create needs.
type NewJob struct {
	UserID         uuid.UUID
	AssetID        uuid.UUID
	Recipe         Recipe
	Params         Params
	IdempotencyKey string // "" for jobs started by an upload
	RequestHash    []byte // hash of the request body, compared on key reuse
	TraceID        string
	// RequireReady refuses assets that are not ready (the API); the ingest
	// step creates jobs for assets it is making ready in the same transaction.
	RequireReady bool
	// Caps limit the user's and the asset's active jobs (zero: none).
	Caps Caps
}

// Create inserts a job and its steps (the first queued, the rest pending).
// With an idempotency key already used by this user, it returns the existing
// job (created false) when the request hash matches, and an Unprocessable
// error when it does not. An asset the user does not own is NotFound.
func (s *Store) Create(ctx context.Context, n NewJob) (Job, bool, error) {
	var (
		j       Job
		created bool
	)
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		var err error
		j, created, err = s.CreateTx(ctx, tx, n)
		return err
	})
	return j, created, err
}

// CreateTx is Create inside the caller's transaction.
func (s *Store) CreateTx(ctx context.Context, tx pgx.Tx, n NewJob) (Job, bool, error) {
	var assetStatus string
	err := tx.QueryRow(ctx, `SELECT status FROM assets WHERE id = $1 AND user_id = $2 FOR SHARE`, n.AssetID, n.UserID).Scan(&assetStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, false, apperr.New(apperr.NotFound, "asset %s not found", n.AssetID)
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("look up asset: %w", err)
	}
	if n.RequireReady && assetStatus != "ready" {
		return Job{}, false, apperr.New(apperr.Conflict, "asset %s is %s; jobs start on ready assets", n.AssetID, assetStatus)
	}
	if err := checkCaps(ctx, tx, n); err != nil {
		return Job{}, false, err
	}
	params, err := json.Marshal(n.Params)
	if err != nil {
		return Job{}, false, fmt.Errorf("encode params: %w", err)
	}
	var key *string
	if n.IdempotencyKey != "" {
		key = &n.IdempotencyKey
	}
	id := uuid.New()
	tag, err := tx.Exec(ctx, `
		INSERT INTO jobs (id, user_id, asset_id, recipe, params, idempotency_key, request_hash, trace_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (user_id, idempotency_key) DO NOTHING`,
		id, n.UserID, n.AssetID, string(n.Recipe), string(params), key, n.RequestHash, n.TraceID)
	if err != nil {
		return Job{}, false, fmt.Errorf("insert job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var existing uuid.UUID
		var hash []byte
		err := tx.QueryRow(ctx, `SELECT id, request_hash FROM jobs WHERE user_id = $1 AND idempotency_key = $2`, n.UserID, n.IdempotencyKey).Scan(&existing, &hash)
		if err != nil {
			return Job{}, false, fmt.Errorf("look up idempotent job: %w", err)
		}
		if !bytes.Equal(hash, n.RequestHash) {
			return Job{}, false, apperr.New(apperr.Unprocessable, "Idempotency-Key %q was already used with a different request", n.IdempotencyKey)
		}
		j, err := get(ctx, tx, n.UserID, existing)
		return j, false, err
	}
	for i, step := range Steps(n.Recipe, n.Params) {
		status := Pending
		if i == 0 {
			status = Queued
		}
		if _, err := tx.Exec(ctx, `INSERT INTO job_steps (job_id, step, position, status) VALUES ($1, $2, $3, $4)`,
			id, step, i+1, string(status)); err != nil {
			return Job{}, false, fmt.Errorf("insert step %s: %w", step, err)
		}
	}
	j, err := get(ctx, tx, n.UserID, id)
	return j, true, err
}

// Get returns the user's job with its steps and outputs; another user's or a
// missing job is NotFound.
func (s *Store) Get(ctx context.Context, userID, id uuid.UUID) (Job, error) {
	return get(ctx, s.db, userID, id)
}

const jobColumns = `j.id, j.user_id, j.asset_id, j.recipe, j.params, j.status, j.error, j.trace_id, j.created_at, j.updated_at, j.started_at, j.finished_at, j.revision`

func scanJob(row pgx.Row) (Job, error) {
	var j Job
	var params []byte
	err := row.Scan(&j.ID, &j.UserID, &j.AssetID, &j.Recipe, &params, &j.Status, &j.Error, &j.TraceID,
		&j.CreatedAt, &j.UpdatedAt, &j.StartedAt, &j.FinishedAt, &j.Revision)
	if err != nil {
		return j, err
	}
	if err := json.Unmarshal(params, &j.Params); err != nil {
		return j, fmt.Errorf("decode params of job %s: %w", j.ID, err)
	}
	return j, nil
}

// getSQL reads a job with its steps and outputs in one round trip.
const getSQL = `SELECT ` + jobColumns + `,
	coalesce((SELECT json_agg(json_build_object('name', s.step, 'position', s.position, 'status', s.status,
			'attempts', s.attempts, 'progress', s.progress_percent, 'stage', s.progress_stage, 'error', s.error,
			'started_at', s.started_at, 'finished_at', s.finished_at,
			'split', (SELECT row_to_json(c) FROM (SELECT ` + partTotals + ` FROM job_parts p
				WHERE p.job_id = s.job_id AND p.step = s.step) c)) ORDER BY s.position)
		FROM job_steps s WHERE s.job_id = j.id), '[]'),
	coalesce((SELECT json_agg(json_build_object('id', o.id, 'step', o.step, 'kind', o.kind, 'filename', o.filename,
			'content_type', o.content_type, 'size_bytes', o.size_bytes, 'object_key', o.object_key, 'created_at', o.created_at)
			ORDER BY o.created_at, o.kind)
		FROM outputs o WHERE o.job_id = j.id), '[]')
	FROM jobs j WHERE j.id = $1 AND j.user_id = $2`

// stepRow is a step as getSQL encodes it (with its parts' totals).
type stepRow struct {
	Step
	Split Parts `json:"split"`
}

// outputRow is an output as getSQL encodes it (with its object key).
type outputRow struct {
	Output
	Key string `json:"object_key"`
}

func get(ctx context.Context, q postgres.Querier, userID, id uuid.UUID) (Job, error) {
	var j Job
	var params, steps, outputs []byte
	err := q.QueryRow(ctx, getSQL, id, userID).Scan(&j.ID, &j.UserID, &j.AssetID, &j.Recipe, &params, &j.Status, &j.Error,
		&j.TraceID, &j.CreatedAt, &j.UpdatedAt, &j.StartedAt, &j.FinishedAt, &j.Revision, &steps, &outputs)
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, apperr.New(apperr.NotFound, "job %s not found", id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("get job: %w", err)
	}
	if err := json.Unmarshal(params, &j.Params); err != nil {
		return Job{}, fmt.Errorf("decode params of job %s: %w", id, err)
	}
	var rows []stepRow
	if err := json.Unmarshal(steps, &rows); err != nil {
		return Job{}, fmt.Errorf("decode steps of job %s: %w", id, err)
	}
	j.Steps = make([]Step, len(rows))
	for i, r := range rows {
		j.Steps[i] = r.withParts(r.Split)
	}
	var outs []outputRow
	if err := json.Unmarshal(outputs, &outs); err != nil {
		return Job{}, fmt.Errorf("decode outputs of job %s: %w", id, err)
	}
	j.Outputs = make([]Output, len(outs))
	for i, o := range outs {
		j.Outputs[i] = o.Output
		j.Outputs[i].ObjectKey = o.Key
	}
	j.Progress = progress(j.Steps)
	return j, nil
}

func progress(steps []Step) float64 {
	if len(steps) == 0 {
		return 0
	}
	var sum float64
	for _, s := range steps {
		if s.Status == Succeeded || s.Status == Skipped {
			sum += 100
		} else {
			sum += s.Progress
		}
	}
	return float64(int(sum/float64(len(steps))*10)) / 10
}

// ListOptions filter and page a job list.
type ListOptions struct {
	Status Status // "" for all
	Limit  int    // 1-100, default 20
	Cursor string // from the previous page's NextCursor
}

// List returns the user's jobs, newest first, without steps and outputs, and
// the cursor of the next page ("" at the end).
func (s *Store) List(ctx context.Context, userID uuid.UUID, o ListOptions) ([]Job, string, error) {
	if o.Limit == 0 {
		o.Limit = 20
	}
	if o.Limit < 1 || o.Limit > 100 {
		return nil, "", apperr.InvalidField("limit", "limit must be from 1 to 100")
	}
	if o.Status != "" {
		switch o.Status {
		case Queued, Running, Succeeded, Failed, Canceled:
		default:
			return nil, "", apperr.InvalidField("status", "unknown status %q (want queued, running, succeeded, failed or canceled)", o.Status)
		}
	}
	after, err := DecodeCursor(o.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.Query(ctx, `
		SELECT `+jobColumns+` FROM jobs j
		WHERE user_id = $1 AND ($2 = '' OR status = $2)
		  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
		ORDER BY created_at DESC, id DESC
		LIMIT $5`, userID, string(o.Status), after.At, after.ID, o.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) { return scanJob(r) })
	if err != nil {
		return nil, "", fmt.Errorf("list jobs: %w", err)
	}
	next := ""
	if len(jobs) > o.Limit {
		jobs = jobs[:o.Limit]
		last := jobs[len(jobs)-1]
		next = EncodeCursor(Cursor{At: &last.CreatedAt, ID: last.ID})
	}
	return jobs, next, nil
}

// Cursor is a position in a list ordered by (created_at, id) descending.
type Cursor struct {
	At *time.Time `json:"t"`
	ID uuid.UUID  `json:"i"`
}

// EncodeCursor makes an opaque cursor.
func EncodeCursor(c Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor; "" is the start. A malformed one is Invalid.
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.At == nil || len(s) > 200 {
		return Cursor{}, apperr.InvalidField("cursor", "cursor is not one this API returned")
	}
	return c, nil
}

// Cancel cancels a queued or running job: it is canceled at once, pending
// steps will not run, and a running step stops at its next check. A job that
// already ended is a Conflict; another user's is NotFound.
func (s *Store) Cancel(ctx context.Context, userID, id uuid.UUID) (Job, error) {
	var j Job
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		var status Status
		err := tx.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1 AND user_id = $2 FOR UPDATE`, id, userID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.NotFound, "job %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("lock job: %w", err)
		}
		if status.Terminal() {
			return apperr.New(apperr.Conflict, "job %s already %s", id, status)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE jobs SET status = 'canceled', cancel_requested = true, error = 'canceled by the user',
			       finished_at = now(), updated_at = now() WHERE id = $1`, id); err != nil {
			return fmt.Errorf("cancel job: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE job_steps SET status = 'canceled', updated_at = now(), finished_at = now()
			WHERE job_id = $1 AND status IN ('pending', 'queued')`, id); err != nil {
			return fmt.Errorf("cancel steps: %w", err)
		}
		if err := recordEndTx(ctx, tx, id); err != nil {
			return err
		}
		j, err = get(ctx, tx, userID, id)
		return err
	})
	return j, err
}
