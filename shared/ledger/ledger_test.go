package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
)

type bundle struct {
	db    *postgres.DB
	jobID uuid.UUID
}

// setup gives the test its own database with one job to charge calls to.
func setup(t *testing.T) bundle {
	t.Helper()
	db := pgtest.New(t)
	return bundle{db: db, jobID: newJob(t, db)}
}

func newJob(t *testing.T, db *postgres.DB) uuid.UUID {
	t.Helper()
	user, asset, job := uuid.New(), uuid.New(), uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, email) VALUES ($1, $2)`, []any{user, user.String() + "@example.com"}},
		{`INSERT INTO assets (id, user_id, filename, content_type, size_bytes, object_key) VALUES ($1, $2, 'a.mp4', 'video/mp4', 1, $3)`,
			[]any{asset, user, "uploads/" + user.String() + "/" + asset.String() + "/source.mp4"}},
		{`INSERT INTO jobs (id, user_id, asset_id, recipe) VALUES ($1, $2, $3, 'captions')`, []any{job, user, asset}},
	} {
		_, err := db.Exec(t.Context(), q.sql, q.args...)
		require.NoError(t, err)
	}
	return job
}

func transcribeCall(jobID uuid.UUID, audio string) ledger.Call {
	return ledger.Call{
		Provider: "openai", Operation: "transcribe", JobID: jobID, Step: "transcribe",
		Request: map[string]any{"model": "whisper-1", "audio_sha256": audio, "language": "en"},
	}
}

// provider counts what it is paid for.
type provider struct {
	calls atomic.Int32
	delay time.Duration
	err   error
}

func (p *provider) fn(ctx context.Context) (ledger.Outcome, error) {
	n := p.calls.Add(1)
	if p.delay > 0 {
		select {
		case <-time.After(p.delay):
		case <-ctx.Done():
			return ledger.Outcome{}, context.Cause(ctx)
		}
	}
	if p.err != nil {
		return ledger.Outcome{}, p.err
	}
	return ledger.Outcome{
		Result: json.RawMessage(`{"segments": [{"id": 0, "start": 0, "end": 1.5, "text": "hello"}], "call": ` + strconv.Itoa(int(n)) + `}`),
		Usage:  json.RawMessage(`{"audio_seconds": 1.5}`),
	}, nil
}

func TestDoPaysOnceAndReuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.New(b.db)
	p := &provider{}
	call := transcribeCall(b.jobID, "aaa")

	first, err := l.Do(t.Context(), call, p.fn)
	require.NoError(t, err)
	require.False(t, first.Reused)
	require.EqualValues(t, 1, p.calls.Load())

	again, err := l.Do(t.Context(), call, p.fn)
	require.NoError(t, err)
	require.True(t, again.Reused)
	require.EqualValues(t, 1, p.calls.Load(), "a succeeded call is not paid again")
	require.JSONEq(t, string(first.Result), string(again.Result))
	require.JSONEq(t, string(first.Usage), string(again.Usage))

	recs, err := l.Calls(t.Context(), b.jobID)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	hash, err := ledger.Hash(call)
	require.NoError(t, err)
	r := recs[0]
	require.Equal(t, hash, r.RequestHash)
	require.Equal(t, "openai", r.Provider)
	require.Equal(t, "transcribe", r.Operation)
	require.Equal(t, b.jobID, r.JobID)
	require.Equal(t, "transcribe", r.Step)
	require.Equal(t, ledger.Succeeded, r.Status)
	require.Equal(t, 1, r.Attempts)
	require.JSONEq(t, `{"audio_seconds": 1.5}`, string(r.Usage))
	require.Empty(t, r.Error)
}

func TestDoRunsDifferentRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.New(b.db)
	p := &provider{}
	calls := []ledger.Call{
		transcribeCall(b.jobID, "aaa"),
		transcribeCall(b.jobID, "bbb"),
		{Provider: "openai", Operation: "translate", JobID: b.jobID, Request: map[string]any{"model": "whisper-1", "audio_sha256": "aaa", "language": "en"}},
		{Provider: "elevenlabs", Operation: "transcribe", JobID: b.jobID, Request: map[string]any{"model": "whisper-1", "audio_sha256": "aaa", "language": "en"}},
	}
	for i, c := range calls {
		out, err := l.Do(t.Context(), c, p.fn)
		require.NoError(t, err)
		require.False(t, out.Reused, "call %d", i)
	}
	require.EqualValues(t, len(calls), p.calls.Load())
	recs, err := l.Calls(t.Context(), b.jobID)
	require.NoError(t, err)
	require.Len(t, recs, len(calls))
}

// Audio results live in S3; the ledger keeps the key.
func TestDoStoresResultKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.New(b.db)
	call := ledger.Call{Provider: "elevenlabs", Operation: "speech", JobID: b.jobID, Step: "synthesize",
		Request: map[string]any{"voice": "v1", "text": "Hello there.", "model": "eleven_multilingual_v2"}}
	key := "jobs/" + b.jobID.String() + "/synthesize/segment-0000.mp3"
	var paid int
	fn := func(context.Context) (ledger.Outcome, error) {
		paid++
		return ledger.Outcome{ResultKey: key, Usage: json.RawMessage(`{"characters": 12}`)}, nil
	}
	for range 2 {
		out, err := l.Do(t.Context(), call, fn)
		require.NoError(t, err)
		require.Equal(t, key, out.ResultKey)
		require.Nil(t, out.Result)
		require.JSONEq(t, `{"characters": 12}`, string(out.Usage))
	}
	require.Equal(t, 1, paid)
}

func TestDoRetriesFailedCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.New(b.db)
	call := transcribeCall(b.jobID, "aaa")
	boom := apperr.New(apperr.Unavailable, "OpenAI is overloaded")
	p := &provider{err: boom}

	_, err := l.Do(t.Context(), call, p.fn)
	require.ErrorIs(t, err, boom, "fn's error comes back wrapped, so it can still be classified")
	recs, err := l.Calls(t.Context(), b.jobID)
	require.NoError(t, err)
	require.Equal(t, ledger.Failed, recs[0].Status)
	require.Equal(t, 1, recs[0].Attempts)
	require.Contains(t, recs[0].Error, "OpenAI is overloaded")

	p.err = nil
	out, err := l.Do(t.Context(), call, p.fn)
	require.NoError(t, err)
	require.False(t, out.Reused)
	out, err = l.Do(t.Context(), call, p.fn)
	require.NoError(t, err)
	require.True(t, out.Reused)
	require.EqualValues(t, 2, p.calls.Load())

	recs, err = l.Calls(t.Context(), b.jobID)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, ledger.Succeeded, recs[0].Status)
	require.Equal(t, 2, recs[0].Attempts)
	require.Empty(t, recs[0].Error)
}

func TestDoRecordsPanicsAndBadJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.New(b.db)
	call := transcribeCall(b.jobID, "aaa")

	require.PanicsWithValue(t, "provider client bug", func() {
		_, _ = l.Do(t.Context(), call, func(context.Context) (ledger.Outcome, error) { panic("provider client bug") })
	})
	_, err := l.Do(t.Context(), call, func(context.Context) (ledger.Outcome, error) {
		return ledger.Outcome{Result: json.RawMessage(`{not json`)}, nil
	})
	require.ErrorContains(t, err, "not valid JSON")

	recs, err := l.Calls(t.Context(), b.jobID)
	require.NoError(t, err)
	require.Equal(t, ledger.Failed, recs[0].Status)
	require.Equal(t, 2, recs[0].Attempts)

	p := &provider{}
	out, err := l.Do(t.Context(), call, p.fn)
	require.NoError(t, err)
	require.False(t, out.Reused)
}

// Ten Lambdas (ten pools) receive the same message at once: one pays, the
// others wait for its outcome.
func TestConcurrentCallsPayOnce(t *testing.T) {
	t.Parallel()
	u := pgtest.NewDatabase(t)
	pools := make([]*postgres.DB, 10)
	for i := range pools {
		db, err := postgres.New(postgres.Options{URL: u.Pooled})
		require.NoError(t, err)
		t.Cleanup(db.Close)
		pools[i] = db
	}
	jobID := newJob(t, pools[0])

	run := func(t *testing.T, opts ledger.Options, call ledger.Call) (*provider, []ledger.Outcome, []error) {
		p := &provider{delay: 300 * time.Millisecond}
		outs, errs := make([]ledger.Outcome, len(pools)), make([]error, len(pools))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, db := range pools {
			l := ledger.NewWithOptions(db, opts)
			wg.Go(func() {
				<-start
				outs[i], errs[i] = l.Do(t.Context(), call, p.fn)
			})
		}
		close(start)
		wg.Wait()
		return p, outs, errs
	}

	t.Run("waiting", func(t *testing.T) {
		t.Parallel()
		p, outs, errs := run(t, ledger.Options{Wait: 10 * time.Second, Poll: 20 * time.Millisecond}, transcribeCall(jobID, "waiting"))
		require.EqualValues(t, 1, p.calls.Load())
		fresh := 0
		for i := range outs {
			require.NoError(t, errs[i])
			require.JSONEq(t, string(outs[0].Result), string(outs[i].Result))
			if !outs[i].Reused {
				fresh++
			}
		}
		require.Equal(t, 1, fresh)
	})

	t.Run("not waiting", func(t *testing.T) {
		t.Parallel()
		p, outs, errs := run(t, ledger.Options{}, transcribeCall(jobID, "not waiting"))
		require.EqualValues(t, 1, p.calls.Load())
		fresh, busy := 0, 0
		for i := range outs {
			switch {
			case errs[i] == nil && !outs[i].Reused:
				fresh++
			case errs[i] == nil:
			default:
				busy++
				require.ErrorIs(t, errs[i], ledger.ErrInFlight)
				require.Equal(t, apperr.Unavailable, apperr.CodeOf(errs[i]))
				var e *ledger.InFlightError
				require.ErrorAs(t, errs[i], &e)
				require.Positive(t, e.RetryAfter)
				require.LessOrEqual(t, e.RetryAfter, ledger.DefaultLease)
			}
		}
		require.Equal(t, 1, fresh)
		require.Positive(t, busy, "the 300 ms call was still running when the others asked")
	})
}

// A holder that died leaves its claim pending; once its lease runs out the
// next caller takes the call over.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.NewWithOptions(b.db, ledger.Options{Lease: 2 * time.Second})
	call := transcribeCall(b.jobID, "aaa")
	hash, err := ledger.Hash(call)
	require.NoError(t, err)
	_, err = b.db.Exec(t.Context(), `INSERT INTO provider_calls (id, request_hash, provider, operation, job_id, step, status, attempts)
		VALUES ($1, $2, 'openai', 'transcribe', $3, 'transcribe', 'pending', 1)`, uuid.New(), hash, b.jobID)
	require.NoError(t, err)

	p := &provider{}
	_, err = l.Do(t.Context(), call, p.fn)
	var busy *ledger.InFlightError
	require.ErrorAs(t, err, &busy)
	require.Equal(t, 1, busy.Attempts)
	require.InDelta(t, 2*time.Second, busy.RetryAfter, float64(time.Second))
	require.Zero(t, p.calls.Load())

	_, err = b.db.Exec(t.Context(), `UPDATE provider_calls SET updated_at = now() - interval '3 seconds' WHERE request_hash = $1`, hash)
	require.NoError(t, err)
	out, err := l.Do(t.Context(), call, p.fn)
	require.NoError(t, err)
	require.False(t, out.Reused)
	recs, err := l.Calls(t.Context(), b.jobID)
	require.NoError(t, err)
	require.Equal(t, 2, recs[0].Attempts)
	require.Equal(t, ledger.Succeeded, recs[0].Status)
}

// A long call keeps its lease by renewing it; a holder whose call was taken
// over learns it through its context and does not overwrite the new attempt.
func TestLeaseRenewalAndLoss(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.NewWithOptions(b.db, ledger.Options{Lease: 600 * time.Millisecond})
	other := ledger.NewWithOptions(b.db, ledger.Options{Lease: 600 * time.Millisecond})

	long := transcribeCall(b.jobID, "long")
	p := &provider{delay: 1500 * time.Millisecond} // 2.5 leases
	done := make(chan error, 1)
	go func() {
		_, err := l.Do(t.Context(), long, p.fn)
		done <- err
	}()
	require.Eventually(t, func() bool { return p.calls.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(900 * time.Millisecond) // past the first lease: only renewals keep it
	_, err := other.Do(t.Context(), long, p.fn)
	require.ErrorIs(t, err, ledger.ErrInFlight)
	require.NoError(t, <-done)
	require.EqualValues(t, 1, p.calls.Load())

	stolen := transcribeCall(b.jobID, "stolen")
	hash, err := ledger.Hash(stolen)
	require.NoError(t, err)
	started := make(chan struct{})
	var cause error
	go func() {
		_, err := l.Do(t.Context(), stolen, func(ctx context.Context) (ledger.Outcome, error) {
			close(started)
			<-ctx.Done()
			cause = context.Cause(ctx)
			return ledger.Outcome{}, ctx.Err()
		})
		done <- err
	}()
	<-started
	// Another holder takes the call over (as if this one had been frozen past its lease).
	_, err = b.db.Exec(t.Context(), `UPDATE provider_calls SET attempts = attempts + 1, updated_at = now() WHERE request_hash = $1`, hash)
	require.NoError(t, err)
	err = <-done
	require.ErrorIs(t, err, ledger.ErrLeaseLost)
	require.ErrorIs(t, cause, ledger.ErrLeaseLost)

	recs, err := l.Calls(t.Context(), b.jobID)
	require.NoError(t, err)
	for _, r := range recs {
		if string(r.RequestHash) == string(hash) {
			require.Equal(t, ledger.Pending, r.Status, "the new holder's attempt is not marked failed")
			require.Equal(t, 2, r.Attempts)
		}
	}
}

func TestDoStopsWaitingWithContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := ledger.NewWithOptions(b.db, ledger.Options{Wait: time.Minute})
	call := transcribeCall(b.jobID, "aaa")
	hash, err := ledger.Hash(call)
	require.NoError(t, err)
	_, err = b.db.Exec(t.Context(), `INSERT INTO provider_calls (id, request_hash, provider, operation, status, attempts)
		VALUES ($1, $2, 'openai', 'transcribe', 'pending', 1)`, uuid.New(), hash)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = l.Do(ctx, call, (&provider{}).fn)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestHash(t *testing.T) {
	t.Parallel()
	hash := func(c ledger.Call) []byte {
		t.Helper()
		h, err := ledger.Hash(c)
		require.NoError(t, err)
		require.Len(t, h, 32)
		return h
	}
	base := ledger.Call{Provider: "openai", Operation: "translate", Request: map[string]any{
		"model": "gpt-4o-mini", "to": "fr", "segments": []any{map[string]any{"id": 0, "text": "hi"}},
		"options": map[string]any{"temperature": 0, "b": true, "a": nil},
	}}
	want := hash(base)

	type options struct {
		A           any  `json:"a"`
		B           bool `json:"b"`
		Temperature int  `json:"temperature"`
	}
	type segment struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
	}
	for name, req := range map[string]any{
		"keys in another order": json.RawMessage(`{"to":"fr","options":{"b":true,"a":null,"temperature":0},
			"segments":[{"text":"hi","id":0}],"model":"gpt-4o-mini"}`),
		"a struct with the same JSON": struct {
			To       string    `json:"to"`
			Options  options   `json:"options"`
			Model    string    `json:"model"`
			Segments []segment `json:"segments"`
		}{"fr", options{nil, true, 0}, "gpt-4o-mini", []segment{{0, "hi"}}},
	} {
		c := base
		c.Request = req
		require.Equal(t, want, hash(c), name)
	}
	for i := range 20 { // Go randomises map iteration: it must not matter
		c := base
		c.JobID, c.Step = uuid.New(), "translate"
		require.Equal(t, want, hash(c), "round %d: JobID and Step are not part of the request", i)
	}

	for name, c := range map[string]ledger.Call{
		"another provider":            {Provider: "elevenlabs", Operation: base.Operation, Request: base.Request},
		"another operation":           {Provider: base.Provider, Operation: "transcribe", Request: base.Request},
		"another request":             {Provider: base.Provider, Operation: base.Operation, Request: map[string]any{"to": "de"}},
		"provider and operation blur": {Provider: "openaitranslate", Operation: "", Request: base.Request},
	} {
		require.NotEqual(t, want, hash(c), name)
	}

	_, err := ledger.Hash(ledger.Call{Provider: "openai", Operation: "x", Request: map[string]any{"f": func() {}}})
	require.Error(t, err)
	_, err = ledger.New(nil).Do(t.Context(), ledger.Call{Provider: "openai", Operation: "x", Request: make(chan int)}, nil)
	require.Error(t, err)
	require.False(t, errors.Is(err, ledger.ErrInFlight))
}
