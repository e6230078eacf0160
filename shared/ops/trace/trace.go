package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/postgres"
)

// ErrNotFound means the database has no job with the id.
var ErrNotFound = errors.New("job not found")

// Event is one line of a timeline.
type Event struct {
	At       time.Time
	Step     string        // "" for the job as a whole
	Attempt  int           // 0 when it does not apply
	Duration time.Duration // how long it took, 0 when it does not apply
	What     string        // what happened, for a person
	Error    string        // why it failed, when it did
	Source   string        // "db", or where a log line came from
	rank     int           // orders events of the same instant: cause before effect
}

// Timeline is one job's events, oldest first.
type Timeline struct {
	JobID   uuid.UUID
	AssetID uuid.UUID
	Recipe  string
	Status  string
	Error   string
	TraceID string
	Events  []Event
	Parts   []Part // the parts of the steps that were split, by step and part
}

// Part is one part of a split step (DESIGN.md section 12).
type Part struct {
	Step       string
	Part       int
	Start, End time.Duration // the part's span of the media
	Status     string
	Attempts   int
	BilledMS   *int64 // nil until the part succeeded
	Error      string
}

// Load reads the job's timeline from the database. A missing job is an
// error wrapping ErrNotFound; any other error is the query's.
func Load(ctx context.Context, q postgres.Querier, jobID uuid.UUID) (Timeline, error) {
	t := Timeline{JobID: jobID}
	var (
		jobErr, reject               *string
		created, updated             time.Time
		started, finished            *time.Time
		filename, ctype, assetStatus string
		size                         int64
		kind                         *string
		assetCreated, assetUpdated   time.Time
	)
	err := q.QueryRow(ctx, `
		SELECT j.recipe, j.status, j.error, j.trace_id, j.created_at, j.updated_at, j.started_at, j.finished_at,
		       a.id, a.filename, a.content_type, a.size_bytes, a.kind, a.status, a.reject_reason, a.created_at, a.updated_at
		FROM jobs j JOIN assets a ON a.id = j.asset_id WHERE j.id = $1`, jobID).
		Scan(&t.Recipe, &t.Status, &jobErr, &t.TraceID, &created, &updated, &started, &finished,
			&t.AssetID, &filename, &ctype, &size, &kind, &assetStatus, &reject, &assetCreated, &assetUpdated)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("%w: %s", ErrNotFound, jobID)
	}
	if err != nil {
		return t, fmt.Errorf("read job %s: %w", jobID, err)
	}
	t.Error = deref(jobErr)

	t.add(Event{At: assetCreated, What: fmt.Sprintf("upload requested: %s (%s, %s)", filename, ctype, bytesText(size)), rank: 0})
	switch assetStatus {
	case "ready":
		t.add(Event{At: assetUpdated, What: "S3 event: ingest checked the upload, asset ready" + paren(deref(kind)), rank: 1})
	case "rejected":
		t.add(Event{At: assetUpdated, What: "S3 event: ingest rejected the upload", Error: deref(reject), rank: 1})
	}
	t.add(Event{At: created, What: "job created (recipe " + t.Recipe + ")", rank: 2})
	if started != nil {
		t.add(Event{At: *started, What: "job running", rank: 4})
	}
	if err := t.loadSteps(ctx, q); err != nil {
		return t, err
	}
	if err := t.loadParts(ctx, q); err != nil {
		return t, err
	}
	if err := t.loadCalls(ctx, q); err != nil {
		return t, err
	}
	if err := t.loadOutputs(ctx, q); err != nil {
		return t, err
	}
	switch {
	case finished != nil:
		t.add(Event{At: *finished, What: "job " + t.Status, Duration: finished.Sub(created), Error: t.Error, rank: 9})
	case t.Status == "failed" || t.Status == "canceled":
		t.add(Event{At: updated, What: "job " + t.Status, Error: t.Error, rank: 9})
	}
	t.sort()
	return t, nil
}

func (t *Timeline) loadSteps(ctx context.Context, q postgres.Querier) error {
	rows, err := q.Query(ctx, `
		SELECT step, status, attempts, progress_percent, progress_stage, error, usage,
		       enqueued_at, started_at, finished_at, updated_at
		FROM job_steps WHERE job_id = $1 ORDER BY position`, t.JobID)
	if err != nil {
		return fmt.Errorf("read steps of job %s: %w", t.JobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			step, status, stage         string
			attempts                    int
			percent                     float32
			stepErr                     *string
			usage                       []byte
			enqueued, started, finished *time.Time
			updated                     time.Time
		)
		if err := rows.Scan(&step, &status, &attempts, &percent, &stage, &stepErr, &usage, &enqueued, &started, &finished, &updated); err != nil {
			return fmt.Errorf("read steps of job %s: %w", t.JobID, err)
		}
		if enqueued != nil {
			t.add(Event{At: *enqueued, Step: step, What: "enqueued (message sent to the " + step + " queue)", rank: 3})
		}
		if started != nil {
			what := "started"
			if enqueued != nil && !started.Before(*enqueued) {
				what = fmt.Sprintf("started (%s in the queue)", seconds(started.Sub(*enqueued)))
			}
			t.add(Event{At: *started, Step: step, Attempt: 1, What: what, rank: 5})
		}
		if status == "running" && (percent > 0 || stage != "") {
			what := fmt.Sprintf("progress %.0f%%", percent)
			if stage != "" {
				what += " (" + stage + ")"
			}
			t.add(Event{At: updated, Step: step, Attempt: attempts, What: what + ", last update", rank: 6})
		}
		if status == "queued" && enqueued == nil {
			t.add(Event{At: updated, Step: step, What: "queued, not sent yet (the sweeper sends it after a minute)", rank: 3})
		}
		if finished == nil {
			continue
		}
		e := Event{At: *finished, Step: step, Attempt: attempts, Error: deref(stepErr), rank: 8}
		if started != nil && !finished.Before(*started) {
			e.Duration = finished.Sub(*started)
		}
		switch status {
		case "failed":
			e.What = fmt.Sprintf("failed after %d attempt%s", attempts, plural(attempts))
		default:
			e.What = status
		}
		if u := compactJSON(usage); u != "" {
			e.What += ", usage " + u
		}
		t.add(e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read steps of job %s: %w", t.JobID, err)
	}
	return nil
}

// loadParts reads the parts of the job's split steps; a part's start and
// end are events too, so the timeline shows the fan-out.
func (t *Timeline) loadParts(ctx context.Context, q postgres.Querier) error {
	rows, err := q.Query(ctx, `
		SELECT p.step, p.part, p.start_ms, p.end_ms, p.status, p.attempts, p.billed_ms, p.error, p.started_at, p.finished_at
		FROM job_parts p JOIN job_steps s ON s.job_id = p.job_id AND s.step = p.step
		WHERE p.job_id = $1 ORDER BY s.position, p.part`, t.JobID)
	if err != nil {
		return fmt.Errorf("read parts of job %s: %w", t.JobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p                 Part
			startMS, endMS    int64
			partErr           *string
			started, finished *time.Time
		)
		if err := rows.Scan(&p.Step, &p.Part, &startMS, &endMS, &p.Status, &p.Attempts, &p.BilledMS, &partErr, &started, &finished); err != nil {
			return fmt.Errorf("read parts of job %s: %w", t.JobID, err)
		}
		p.Start, p.End, p.Error = time.Duration(startMS)*time.Millisecond, time.Duration(endMS)*time.Millisecond, deref(partErr)
		t.Parts = append(t.Parts, p)
		span := spanText(p.Start, p.End)
		if started != nil {
			t.add(Event{At: *started, Step: p.Step, Attempt: 1, What: fmt.Sprintf("part %d (%s) started", p.Part, span), rank: 5})
		}
		if finished != nil {
			e := Event{At: *finished, Step: p.Step, Attempt: p.Attempts, What: fmt.Sprintf("part %d (%s) %s", p.Part, span, p.Status),
				Error: p.Error, rank: 7}
			if started != nil && !finished.Before(*started) {
				e.Duration = finished.Sub(*started)
			}
			t.add(e)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read parts of job %s: %w", t.JobID, err)
	}
	return nil
}

func (t *Timeline) loadCalls(ctx context.Context, q postgres.Querier) error {
	rows, err := q.Query(ctx, `
		SELECT provider, operation, coalesce(step, ''), status, attempts, usage, error, created_at, updated_at
		FROM provider_calls WHERE job_id = $1 ORDER BY created_at, id`, t.JobID)
	if err != nil {
		return fmt.Errorf("read provider calls of job %s: %w", t.JobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			provider, operation, step, status string
			attempts                          int
			usage                             []byte
			callErr                           *string
			created, updated                  time.Time
		)
		if err := rows.Scan(&provider, &operation, &step, &status, &attempts, &usage, &callErr, &created, &updated); err != nil {
			return fmt.Errorf("read provider calls of job %s: %w", t.JobID, err)
		}
		e := Event{At: created, Step: step, Attempt: attempts, Error: deref(callErr), rank: 6,
			What: fmt.Sprintf("provider call %s %s: %s", provider, operation, status)}
		if status != "pending" {
			e.Duration = updated.Sub(created)
		}
		if u := compactJSON(usage); u != "" {
			e.What += ", usage " + u
		}
		t.add(e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read provider calls of job %s: %w", t.JobID, err)
	}
	return nil
}

func (t *Timeline) loadOutputs(ctx context.Context, q postgres.Querier) error {
	rows, err := q.Query(ctx, `SELECT step, kind, filename, content_type, size_bytes, created_at
		FROM outputs WHERE job_id = $1 ORDER BY created_at, kind`, t.JobID)
	if err != nil {
		return fmt.Errorf("read outputs of job %s: %w", t.JobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			step, kind, filename, ctype string
			size                        int64
			created                     time.Time
		)
		if err := rows.Scan(&step, &kind, &filename, &ctype, &size, &created); err != nil {
			return fmt.Errorf("read outputs of job %s: %w", t.JobID, err)
		}
		t.add(Event{At: created, Step: step, What: fmt.Sprintf("output %s: %s (%s, %s)", kind, filename, ctype, bytesText(size)), rank: 7})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read outputs of job %s: %w", t.JobID, err)
	}
	return nil
}

func (t *Timeline) add(e Event) {
	if e.Source == "" {
		e.Source = "db"
	}
	e.At = e.At.UTC()
	t.Events = append(t.Events, e)
}

// Merge adds events (log lines) to the timeline, keeping it in time order.
func (t *Timeline) Merge(events []Event) {
	for _, e := range events {
		if e.rank == 0 {
			e.rank = 10 // a log line of the same instant comes after the database's record of it
		}
		t.add(e)
	}
	t.sort()
}

func (t *Timeline) sort() {
	sort.SliceStable(t.Events, func(i, j int) bool {
		a, b := t.Events[i], t.Events[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.rank < b.rank
	})
}

// Write prints the timeline as a table, with each event's offset from the
// first one ("+0.000s"). It returns the writer's error.
func (t Timeline) Write(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "job %s  recipe %s  status %s", t.JobID, t.Recipe, t.Status)
	if t.Error != "" {
		fmt.Fprintf(&b, ": %s", oneLine(t.Error))
	}
	fmt.Fprintf(&b, "\nasset %s", t.AssetID)
	if t.TraceID != "" {
		fmt.Fprintf(&b, "  trace %s", t.TraceID)
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OFFSET\tTIME (UTC)\tSTEP\tATTEMPT\tDURATION\tSOURCE\tEVENT")
	var first time.Time
	if len(t.Events) > 0 {
		first = t.Events[0].At
	}
	for _, e := range t.Events {
		attempt, duration := "", ""
		if e.Attempt > 0 {
			attempt = fmt.Sprint(e.Attempt)
		}
		if e.Duration > 0 {
			duration = seconds(e.Duration)
		}
		what := e.What
		if e.Error != "" {
			what += ": " + oneLine(e.Error)
		}
		fmt.Fprintf(tw, "+%s\t%s\t%s\t%s\t%s\t%s\t%s\n", seconds(e.At.Sub(first)), e.At.Format("2006-01-02 15:04:05.000"),
			orDash(e.Step), attempt, duration, e.Source, what)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := t.writeParts(&b); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeParts prints each split step's parts as a table: what each covered
// of the media, how it ended, its attempts and its billed time.
func (t Timeline) writeParts(b *bytes.Buffer) error {
	for i := 0; i < len(t.Parts); {
		step := t.Parts[i].Step
		n := i
		done := 0
		for n < len(t.Parts) && t.Parts[n].Step == step {
			if t.Parts[n].Status == "succeeded" {
				done++
			}
			n++
		}
		fmt.Fprintf(b, "\nparts of %s (%d, %d done):\n", step, n-i, done)
		tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PART\tRANGE\tSTATUS\tATTEMPTS\tBILLED\tERROR")
		for _, p := range t.Parts[i:n] {
			billed := "-"
			if p.BilledMS != nil {
				billed = fmt.Sprintf("%d ms", *p.BilledMS)
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\t%s\n", p.Part, spanText(p.Start, p.End), p.Status, p.Attempts, billed, orDash(oneLine(p.Error)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		i = n
	}
	return nil
}

// spanText shows a part's range of the media: "0:00.000-5:00.000".
func spanText(from, to time.Duration) string { return clock(from) + "-" + clock(to) }

func clock(d time.Duration) string {
	ms := d.Milliseconds()
	h, m, s, frac := ms/3600000, ms/60000%60, ms/1000%60, ms%1000
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d.%03d", h, m, s, frac)
	}
	return fmt.Sprintf("%d:%02d.%03d", m, s, frac)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// oneLine keeps a multi-line error (FFmpeg's stderr tail) on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "\n", " ⏎ ")), " ")
}

// compactJSON renders a usage object on one line, "" when empty.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if len(raw) == 0 || json.Compact(&b, raw) != nil || b.String() == "{}" || b.String() == "null" {
		return ""
	}
	return b.String()
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
