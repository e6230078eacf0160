package e2e_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hookReceiver is a customer's endpoint. It checks each delivery's
// signature as the Standard Webhooks specification describes, written here
// without the server's signer: HMAC-SHA256, keyed with the base64 after
// "whsec_", over "<webhook-id>.<webhook-timestamp>.<body>", compared with
// each "v1,<base64>" in webhook-signature.
type hookReceiver struct {
	mu       sync.Mutex
	secret   string
	statuses []int // answers in order, then 200
	got      []hookCall
}

type hookCall struct {
	at       time.Time
	id       string
	body     []byte
	verified error
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, hookCall{at: time.Now(), id: r.Header.Get("webhook-id"), body: body, verified: h.verify(r.Header, body)})
	status := http.StatusOK
	if len(h.statuses) > 0 {
		status, h.statuses = h.statuses[0], h.statuses[1:]
	}
	w.WriteHeader(status)
}

func (h *hookReceiver) verify(hd http.Header, body []byte) error {
	id, ts := hd.Get("webhook-id"), hd.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside five minutes")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h.secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	_, _ = io.WriteString(m, id+"."+ts+"."+string(body))
	for _, s := range strings.Fields(hd.Get("webhook-signature")) {
		if v, b64, ok := strings.Cut(s, ","); ok && v == "v1" {
			if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, m.Sum(nil)) {
				return nil
			}
		}
	}
	return errors.New("no valid v1 signature")
}

func (h *hookReceiver) calls() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.got...)
}

type hookView struct {
	ID             string
	URL            string
	Secret         string
	Enabled        bool
	DisabledReason *string `json:"disabled_reason"`
}

func (e *env) createHook(t *testing.T, token, url string, events []string) hookView {
	t.Helper()
	r := e.do(t, call{method: "POST", path: "/webhooks", token: token, headers: map[string]string{"Idempotency-Key": url},
		body: map[string]any{"url": url, "events": events}})
	require.Equal(t, 201, r.Status, string(r.Body))
	var h hookView
	r.JSON(t, &h)
	require.True(t, strings.HasPrefix(h.Secret, "whsec_"))
	return h
}

// TestWebhooksThroughTheStack: a job that ends reaches its owner's endpoint
// as a signed job.succeeded, and an endpoint that asked for job.progress gets
// one per step but the last; a receiver that answers 500 twice gets the event
// three times, with growing gaps, through the real delivery function and
// queue; the routes are owner-only and refuse inside addresses.
func TestWebhooksThroughTheStack(t *testing.T) {
	t.Parallel()
	e := start(t, map[string]string{"WEBHOOK_RETRY_SECONDS": "1,4"})
	token, _ := e.login(t, "hooks@example.com")
	other, _ := e.login(t, "someone-else@example.com")

	// Refusals, as problems: inside addresses, and plain http anywhere but 127.0.0.1.
	for _, u := range []string{"https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/hook", "http://example.com/hook", "https://localhost/hook"} {
		r := e.do(t, call{method: "POST", path: "/webhooks", token: token, headers: map[string]string{"Idempotency-Key": u}, body: map[string]any{"url": u}})
		require.Equal(t, 400, r.Status, "%s: %s", u, r.Body)
		require.Contains(t, r.Header.Get("Content-Type"), "application/problem+json")
	}
	r := e.do(t, call{method: "POST", path: "/webhooks", token: token, body: map[string]any{"url": "https://example.com/"}})
	require.Equal(t, 400, r.Status, "no Idempotency-Key")

	ended := &hookReceiver{}
	endedSrv := httptest.NewServer(ended)
	t.Cleanup(endedSrv.Close)
	hook := e.createHook(t, token, endedSrv.URL+"/hooks/redub", []string{"job.succeeded"})
	ended.mu.Lock()
	ended.secret = hook.Secret
	ended.mu.Unlock()

	// Owner-only: another user's view of it is a 404, as for a missing id.
	require.Equal(t, 404, e.do(t, call{method: "GET", path: "/webhooks/" + hook.ID + "/deliveries", token: other}).Status)
	require.Equal(t, 404, e.do(t, call{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: other}).Status)
	require.Equal(t, 404, e.do(t, call{method: "DELETE", path: "/webhooks/" + hook.ID, token: other}).Status)
	var list struct{ Items []hookView }
	e.do(t, call{method: "GET", path: "/webhooks", token: other}).JSON(t, &list)
	require.Empty(t, list.Items)
	e.do(t, call{method: "GET", path: "/webhooks", token: token}).JSON(t, &list)
	require.Len(t, list.Items, 1)
	require.Empty(t, list.Items[0].Secret, "the secret is shown once")

	// Another endpoint asks for job.progress alone.
	progress := &hookReceiver{}
	progressSrv := httptest.NewServer(progress)
	t.Cleanup(progressSrv.Close)
	ph := e.createHook(t, token, progressSrv.URL+"/progress", []string{"job.progress"})
	progress.mu.Lock()
	progress.secret = ph.Secret
	progress.mu.Unlock()

	// A job ends: the receiver gets job.succeeded, signed.
	asset := e.uploadFile(t, token, sample(t, t.TempDir(), 2), "video/mp4", map[string]any{"recipe": "voiceover"})
	jobID := e.jobOf(t, token, asset)
	done := e.waitJob(t, token, jobID, 3*time.Minute)
	require.Equal(t, "succeeded", done.Status)
	go func() { _, _ = e.st.Fire(context.WithoutCancel(t.Context()), "SweeperFunction.EveryMinute") }() // instead of waiting for the schedule
	require.Eventually(t, func() bool { return len(ended.calls()) > 0 }, 90*time.Second, 250*time.Millisecond, "no job.succeeded delivery")
	got := ended.calls()[0]
	require.NoError(t, got.verified)
	var payload struct {
		Type string
		Data struct {
			JobID  string `json:"job_id"`
			Status string
			Recipe string
		}
	}
	require.NoError(t, json.Unmarshal(got.body, &payload))
	require.Equal(t, "job.succeeded", payload.Type)
	require.Equal(t, jobID, payload.Data.JobID)
	require.Equal(t, "voiceover", payload.Data.Recipe)
	require.Len(t, ended.calls(), 1, "job.succeeded only: the endpoint did not ask for job.progress")

	// job.progress: one per step that had a step after it, each signed
	// (the queue does not keep their order); none for the last step (its
	// success is the job.succeeded).
	var want []string
	percent := map[string]float64{}
	for i, st := range done.Steps[:len(done.Steps)-1] {
		want = append(want, st.Name)
		percent[st.Name] = 100 * float64(i+1) / float64(len(done.Steps))
	}
	require.Eventually(t, func() bool { return len(progress.calls()) >= len(want) }, 60*time.Second, 250*time.Millisecond, "job.progress deliveries")
	var steps []string
	ids := map[string]bool{}
	for _, c := range progress.calls() {
		require.NoError(t, c.verified)
		var p struct {
			Type string
			Data struct {
				JobID    string `json:"job_id"`
				Status   string
				Step     string
				Progress float64
			}
		}
		require.NoError(t, json.Unmarshal(c.body, &p))
		require.Equal(t, "job.progress", p.Type)
		require.Equal(t, jobID, p.Data.JobID)
		require.Equal(t, "running", p.Data.Status)
		require.InDelta(t, percent[p.Data.Step], p.Data.Progress, 0.01, p.Data.Step)
		steps = append(steps, p.Data.Step)
		ids[c.id] = true
	}
	require.ElementsMatch(t, want, steps, "once per step")
	require.Len(t, ids, len(want))
	var progressLog struct {
		Items []struct {
			Type     string
			Status   string
			Attempts []struct{ Status *int }
		}
	}
	e.do(t, call{method: "GET", path: "/webhooks/" + ph.ID + "/deliveries", token: token}).JSON(t, &progressLog)
	require.Len(t, progressLog.Items, len(want), "one delivery per step, each delivered once")
	for _, d := range progressLog.Items {
		require.Equal(t, "job.progress", d.Type)
		require.Equal(t, "succeeded", d.Status)
		require.Len(t, d.Attempts, 1)
	}

	// Retries: 500, 500, then 200; the waits are WEBHOOK_RETRY_SECONDS (1 s, then 4 s).
	flaky := &hookReceiver{statuses: []int{500, 500}}
	flakySrv := httptest.NewServer(flaky)
	t.Cleanup(flakySrv.Close)
	fh := e.createHook(t, token, flakySrv.URL+"/flaky", nil)
	flaky.mu.Lock()
	flaky.secret = fh.Secret
	flaky.mu.Unlock()
	r = e.do(t, call{method: "POST", path: "/webhooks/" + fh.ID + "/test", token: token})
	require.Equal(t, 202, r.Status, string(r.Body))
	require.Eventually(t, func() bool { return len(flaky.calls()) >= 3 }, 60*time.Second, 100*time.Millisecond, "three attempts")
	calls := flaky.calls()
	require.Len(t, calls, 3)
	for _, c := range calls {
		require.NoError(t, c.verified)
		require.Equal(t, calls[0].id, c.id, "one webhook-id for every attempt")
	}
	first, second := calls[1].at.Sub(calls[0].at), calls[2].at.Sub(calls[1].at)
	t.Logf("gaps between attempts: %s, then %s", first, second)
	require.Greater(t, second, first, "the gaps grow: %s then %s", first, second)

	var deliveries struct {
		Items []struct {
			Status   string
			Attempts []struct{ Status *int }
		}
	}
	// The receiver has answered the third attempt; the delivery function
	// records it a moment later.
	require.Eventually(t, func() bool {
		e.do(t, call{method: "GET", path: "/webhooks/" + fh.ID + "/deliveries", token: token}).JSON(t, &deliveries)
		return len(deliveries.Items) == 1 && deliveries.Items[0].Status != "pending"
	}, 30*time.Second, 100*time.Millisecond, "the delivery is recorded")
	require.Equal(t, "succeeded", deliveries.Items[0].Status)
	var statuses []int
	for _, a := range deliveries.Items[0].Attempts {
		statuses = append(statuses, *a.Status)
	}
	require.Equal(t, []int{500, 500, 200}, statuses)

	require.Equal(t, 204, e.do(t, call{method: "DELETE", path: "/webhooks/" + fh.ID, token: token}).Status)
	require.Equal(t, 404, e.do(t, call{method: "GET", path: "/webhooks/" + fh.ID + "/deliveries", token: token}).Status)
}
