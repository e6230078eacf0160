package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
	"github.com/redub/redub/shared/webhook"
)

// verify checks a delivery as a receiver would, following the Standard
// Webhooks specification on its own (it does not call the package's
// signer): the signed content is "<webhook-id>.<webhook-timestamp>.<body>",
// the key is the base64 after "whsec_", the header holds space-separated
// "v1,<base64>" signatures, and a timestamp more than five minutes away is
// refused.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	_, _ = io.WriteString(m, id+"."+ts+"."+string(body))
	want := m.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// receiver is an endpoint that verifies every delivery and answers with
// the statuses it is given, then 200.
type receiver struct {
	mu       sync.Mutex
	secret   string
	statuses []int
	got      []received
}

type received struct {
	at       time.Time
	id       string
	body     []byte
	verified error
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, received{at: time.Now(), id: req.Header.Get("webhook-id"), body: body, verified: verify(r.secret, req.Header, body, time.Now())})
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte("answer " + strconv.Itoa(status)))
}

func (r *receiver) calls() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// resolver answers from a fixed table.
type resolver map[string][]string

func (r resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range r[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

func TestSignatureVerifiesIndependently(t *testing.T) {
	t.Parallel()
	secret, err := webhook.NewSecret()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, "whsec_"))
	body := []byte(`{"type":"job.succeeded"}`)
	at := time.Now()
	sig, err := webhook.Signature(secret, "msg_1", at, body)
	require.NoError(t, err)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", "v1,bm90LXRoaXMtb25l "+sig) // a rotated-out signature first, as the spec allows
	require.NoError(t, verify(secret, h, body, at))
	require.Error(t, verify(secret, h, []byte(`{"type":"job.failed"}`), at), "another body")
	other, _ := webhook.NewSecret()
	require.Error(t, verify(other, h, body, at), "another secret")
	require.Error(t, verify(secret, h, body, at.Add(10*time.Minute)), "a replay ten minutes later")

	// The specification's own example: its secret, id, timestamp and body give its signature.
	spec, err := webhook.Signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	require.NoError(t, err)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", spec)
}

func TestRefusedAddresses(t *testing.T) {
	t.Parallel()
	res := resolver{"internal.example": {"10.20.30.40"}, "mixed.example": {"93.184.215.14", "192.168.1.9"}, "public.example": {"93.184.215.14"}}
	staging := webhook.Policy{Resolver: res}
	dev := webhook.Policy{Development: true, Resolver: res}
	for _, tt := range []struct {
		policy webhook.Policy
		url    string
	}{
		{staging, "https://10.0.0.1/hook"},
		{staging, "http://127.0.0.1:8080/hook"}, // outside development
		{staging, "https://127.0.0.1/hook"},
		{staging, "https://169.254.169.254/latest/meta-data/"},
		{staging, "https://[::1]/hook"},
		{staging, "https://[::ffff:10.0.0.1]/hook"},
		{staging, "https://internal.example/hook"}, // resolves to a private address
		{staging, "https://mixed.example/hook"},    // one of its addresses is private
		{staging, "https://localhost/hook"},
		{staging, "http://public.example/hook"}, // plain http
		{dev, "http://public.example/hook"},     // http in development is for 127.0.0.1 only
		{dev, "https://169.254.169.254/"},
		{dev, "https://10.0.0.1/"},
	} {
		_, err := tt.policy.CheckURL(t.Context(), tt.url)
		require.ErrorIs(t, err, webhook.ErrRefused, tt.url)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), tt.url)
	}
	for _, tt := range []struct {
		policy webhook.Policy
		url    string
	}{
		{staging, "https://public.example/hook"},
		{staging, "https://93.184.215.14:8443/hook"},
		{dev, "http://127.0.0.1:4000/hook"},
	} {
		_, err := tt.policy.CheckURL(t.Context(), tt.url)
		require.NoError(t, err, tt.url)
	}
	_, err := staging.CheckURL(t.Context(), "https://user:pw@public.example/")
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
}

// TestDialerRefusesARebind: the name passed the check when it was stored,
// but now resolves to loopback; the client refuses it and never connects.
func TestDialerRefusesARebind(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	client := webhook.NewClient(webhook.Policy{Development: true, Resolver: resolver{"rebind.example": {"127.0.0.1"}}})
	secret, _ := webhook.NewSecret()
	_, err := client.Post(t.Context(), "https://rebind.example:"+port+"/hook", secret, "d1", time.Now(), []byte(`{}`))
	require.ErrorIs(t, err, webhook.ErrRefused)
	require.Contains(t, err.Error(), "loopback")
	require.Zero(t, hits.Load(), "the refused endpoint was reached")
}

// TestClientFollowsNoRedirect: a 302 is a failed attempt, its target is
// never fetched; and what is kept of an answer is capped.
func TestClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { followed.Add(1) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 4<<20)))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := webhook.NewClient(webhook.Policy{Development: true})
	secret, _ := webhook.NewSecret()
	res, err := client.Post(t.Context(), srv.URL+"/hook", secret, "d1", time.Now(), []byte(`{}`))
	require.Error(t, err)
	require.Equal(t, http.StatusFound, res.Status)
	require.Zero(t, followed.Load())
	res, err = client.Post(t.Context(), srv.URL+"/big", secret, "d2", time.Now(), []byte(`{}`))
	require.NoError(t, err)
	require.LessOrEqual(t, len(res.Body), 600, "the answer kept for the log is capped")
}

type setup struct {
	db    *postgres.DB
	store *webhook.Store
	jobs  *job.Store
	user  uuid.UUID
}

func newSetup(t *testing.T) setup {
	t.Helper()
	db := pgtest.New(t)
	user := uuid.New()
	_, err := db.Exec(t.Context(), `INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	require.NoError(t, err)
	return setup{db: db, store: webhook.NewStore(db), jobs: job.NewStore(db), user: user}
}

func (s setup) newJob(t *testing.T) job.Job {
	t.Helper()
	asset := uuid.New()
	_, err := s.db.Exec(t.Context(), `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'a.mp4', 'video/mp4', 10, $3)`, asset, s.user, "uploads/"+s.user.String()+"/"+asset.String()+"/source.mp4")
	require.NoError(t, err)
	j, _, err := s.jobs.Create(t.Context(), job.NewJob{UserID: s.user, AssetID: asset, Recipe: job.Transcode})
	require.NoError(t, err)
	return j
}

// queued records what a Queue would have sent.
type queued struct {
	mu     sync.Mutex
	ids    []uuid.UUID
	delays []time.Duration
}

func (q *queued) Send(ctx context.Context, id uuid.UUID) error { return q.SendAfter(ctx, id, 0) }

func (q *queued) SendAfter(_ context.Context, id uuid.UUID, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ids, q.delays = append(q.ids, id), append(q.delays, d)
	return nil
}

func message(id uuid.UUID) events.SQSMessage {
	b, _ := json.Marshal(webhook.Message{V: 1, DeliveryID: id})
	return events.SQSMessage{MessageId: uuid.NewString(), Body: string(b)}
}

// TestCanceledJobIsDeliveredSigned: the job's end is written with it, the
// dispatcher makes one delivery per subscribed endpoint, and the receiver
// verifies what it gets.
func TestCanceledJobIsDeliveredSigned(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	recv := &receiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	hook, created, err := s.store.Create(t.Context(), webhook.NewWebhook{UserID: s.user, URL: srv.URL, Events: []string{webhook.JobCanceled}, IdempotencyKey: "k1", RequestHash: []byte("h")})
	require.NoError(t, err)
	require.True(t, created)
	recv.secret = hook.Secret
	_, _, err = s.store.Create(t.Context(), webhook.NewWebhook{UserID: s.user, URL: srv.URL + "/other", Events: []string{webhook.JobSucceeded}, IdempotencyKey: "k2", RequestHash: []byte("h")})
	require.NoError(t, err)

	j := s.newJob(t)
	_, err = s.jobs.Cancel(t.Context(), s.user, j.ID)
	require.NoError(t, err)

	q := &queued{}
	n, err := s.store.Dispatch(t.Context(), s.jobs, q, 10)
	require.NoError(t, err)
	require.Equal(t, 1, n, "one endpoint subscribes to job.canceled")
	n, err = s.store.Dispatch(t.Context(), s.jobs, q, 10)
	require.NoError(t, err)
	require.Zero(t, n, "an event is dispatched once")

	d := &webhook.Deliverer{Store: s.store, Client: webhook.NewClient(webhook.Policy{Development: true}), Queue: q,
		Retries: []time.Duration{time.Second}, Log: slog.New(slog.DiscardHandler)}
	require.NoError(t, d.Handle(t.Context(), message(q.ids[0])))
	require.NoError(t, d.Handle(t.Context(), message(q.ids[0])), "a repeat of the message is harmless")
	got := recv.calls()
	require.Len(t, got, 1)
	require.NoError(t, got[0].verified)
	require.Equal(t, q.ids[0].String(), got[0].id)
	var p struct {
		Type string
		Data struct {
			JobID  string `json:"job_id"`
			Status string
		}
	}
	require.NoError(t, json.Unmarshal(got[0].body, &p))
	require.Equal(t, webhook.JobCanceled, p.Type)
	require.Equal(t, j.ID.String(), p.Data.JobID)
	require.Equal(t, "canceled", p.Data.Status)

	ds, err := s.store.Deliveries(t.Context(), s.user, hook.ID, 0)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, "succeeded", ds[0].Status)
	require.Len(t, ds[0].Attempts, 1)
	require.Equal(t, 200, *ds[0].Attempts[0].Status)

	// Another user sees none of it.
	_, err = s.store.Deliveries(t.Context(), uuid.New(), hook.ID, 0)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}

// TestLastFailureDisablesTheEndpoint: every retry used up, the delivery
// fails and the endpoint is disabled with a reason; later events skip it.
func TestLastFailureDisablesTheEndpoint(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	recv := &receiver{statuses: []int{500, 503, 500}}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	hook, _, err := s.store.Create(t.Context(), webhook.NewWebhook{UserID: s.user, URL: srv.URL, Events: webhook.EventTypes(), IdempotencyKey: "k", RequestHash: []byte("h")})
	require.NoError(t, err)
	recv.secret = hook.Secret
	id, err := s.store.CreateTest(t.Context(), s.user, hook.ID, time.Now())
	require.NoError(t, err)
	j := s.newJob(t)
	_, err = s.jobs.Cancel(t.Context(), s.user, j.ID)
	require.NoError(t, err)
	q := &queued{}
	_, err = s.store.Dispatch(t.Context(), s.jobs, q, 10)
	require.NoError(t, err)
	var event uuid.UUID
	for _, qid := range q.ids {
		if qid != id {
			event = qid
		}
	}
	require.NotEqual(t, uuid.Nil, event)

	q2 := &queued{}
	d := &webhook.Deliverer{Store: s.store, Client: webhook.NewClient(webhook.Policy{Development: true}), Queue: q2,
		Retries: []time.Duration{2 * time.Second, 20 * time.Minute}, Log: slog.New(slog.DiscardHandler)}
	require.NoError(t, d.Handle(t.Context(), message(event)))
	require.Equal(t, []time.Duration{2 * time.Second}, q2.delays, "a short wait is a delayed message")
	require.NoError(t, d.Handle(t.Context(), message(event)))
	require.Len(t, q2.delays, 1, "a wait past SQS's 15 minutes is left to the sweeper")
	unsent, err := s.store.Unsent(t.Context(), time.Minute, 10)
	require.NoError(t, err)
	require.NotContains(t, unsent, event, "not due for 20 minutes")
	_, err = s.db.Exec(t.Context(), `UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = $1`, event)
	require.NoError(t, err)
	unsent, err = s.store.Unsent(t.Context(), time.Minute, 10)
	require.NoError(t, err)
	require.Contains(t, unsent, event, "due now: the sweeper sends it")
	require.NoError(t, d.Handle(t.Context(), message(event)))
	require.Len(t, recv.calls(), 3)

	ws, err := s.store.List(t.Context(), s.user)
	require.NoError(t, err)
	require.False(t, ws[0].Enabled)
	require.Contains(t, *ws[0].DisabledReason, "3 failed attempts")
	require.Contains(t, *ws[0].DisabledReason, "500")

	// A disabled endpoint gets no new deliveries.
	j2 := s.newJob(t)
	_, err = s.jobs.Cancel(t.Context(), s.user, j2.ID)
	require.NoError(t, err)
	n, err := s.store.Dispatch(t.Context(), s.jobs, &queued{}, 10)
	require.NoError(t, err)
	require.Zero(t, n)
	// A test still goes out, which is how a fixed endpoint is checked, and its success enables it again.
	require.NoError(t, d.Handle(t.Context(), message(id)))
	require.Len(t, recv.calls(), 4)
	ws, err = s.store.List(t.Context(), s.user)
	require.NoError(t, err)
	require.True(t, ws[0].Enabled)
}

func TestCreateIsIdempotentAndOwned(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	n := webhook.NewWebhook{UserID: s.user, URL: "https://hooks.example.com/a", Events: webhook.EventTypes(), IdempotencyKey: "k", RequestHash: []byte("h1")}
	first, created, err := s.store.Create(t.Context(), n)
	require.NoError(t, err)
	require.True(t, created)
	again, created, err := s.store.Create(t.Context(), n)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first.ID, again.ID)
	require.Equal(t, first.Secret, again.Secret, "a replay answers as the creation did")
	n.RequestHash = []byte("h2")
	_, _, err = s.store.Create(t.Context(), n)
	require.Equal(t, apperr.Unprocessable, apperr.CodeOf(err))

	ws, err := s.store.List(t.Context(), s.user)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	require.Empty(t, ws[0].Secret, "the list never shows a secret")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(s.store.Delete(t.Context(), uuid.New(), first.ID)))
	require.NoError(t, s.store.Delete(t.Context(), s.user, first.ID))
	_, err = s.store.CreateTest(t.Context(), s.user, first.ID, time.Now())
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}
