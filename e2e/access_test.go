package e2e_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/webhook"
)

// resources are one user's ids of each kind.
type resources struct {
	token                    string
	user                     string
	pending, ready, job, out string
	hook                     string
	freshPending, freshReady func() string
	freshJob, freshHook      func() string
}

func (e *env) upload(t testing.TB, token, name string) string {
	t.Helper()
	r := e.do(t, call{method: "POST", path: "/uploads", token: token,
		body: map[string]any{"filename": name, "content_type": "video/mp4", "size_bytes": 1024}})
	require.Equal(t, 201, r.Status, string(r.Body))
	var got struct{ Asset struct{ ID string } }
	r.JSON(t, &got)
	return got.Asset.ID
}

// markReady stands in for the ingest step (the pipeline issue), which makes
// verified uploads ready.
func (e *env) markReady(t testing.TB, id string) {
	t.Helper()
	_, err := e.db.Exec(context.Background(), `UPDATE assets SET status = 'ready', kind = 'video' WHERE id = $1`, id)
	require.NoError(t, err)
}

func (e *env) resources(t testing.TB, email string) resources {
	t.Helper()
	var r resources
	r.token, r.user = e.login(t, email)
	r.freshPending = func() string { return e.upload(t, r.token, "clip.mp4") }
	r.freshReady = func() string {
		id := e.upload(t, r.token, "ready.mp4")
		e.markReady(t, id)
		return id
	}
	// Jobs made straight in the database are never sent to the pipeline, so
	// they stay queued however long the matrix takes.
	r.freshJob = func() string {
		j, _, err := job.NewStore(e.db).Create(context.Background(), job.NewJob{UserID: uuid.MustParse(r.user), AssetID: uuid.MustParse(r.ready), Recipe: job.Transcode})
		require.NoError(t, err)
		// Marked as sent, so the sweeper (every minute in the stack) leaves it alone too.
		_, err = e.db.Exec(context.Background(), `UPDATE job_steps SET enqueued_at = now() WHERE job_id = $1`, j.ID)
		require.NoError(t, err)
		return j.ID.String()
	}
	// An IP literal: registering checks the addresses of a name, and the
	// matrix must not depend on DNS.
	r.freshHook = func() string {
		h, _, err := webhook.NewStore(e.db).Create(context.Background(), webhook.NewWebhook{UserID: uuid.MustParse(r.user),
			URL: "https://93.184.215.14/hook", Events: webhook.EventTypes(), IdempotencyKey: uuid.NewString(), RequestHash: []byte("x")})
		require.NoError(t, err)
		return h.ID.String()
	}
	r.hook = r.freshHook()
	r.pending = r.freshPending()
	r.ready = r.freshReady()
	r.job = r.freshJob()
	r.out = uuid.NewString()
	_, err := e.db.Exec(context.Background(), `INSERT INTO outputs (id, job_id, step, kind, object_key, filename, content_type, size_bytes)
		VALUES ($1, $2, 'transcode', 'video', $3, 'clip.mp4', 'video/mp4', 10)`, r.out, r.job, "jobs/"+r.job+"/transcode/video.mp4")
	require.NoError(t, err)
	return r
}

func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	a := e.resources(t, "alice@example.com")
	b := e.resources(t, "bob@example.com")
	missing := uuid.NewString()
	const malformed = "not-a-uuid"

	type route struct {
		method, path string
		body         any
		own          func() string // an id of the caller's that this route may consume
		ownStatus    int
		headers      map[string]string
	}
	parts := map[string]any{"parts": []map[string]any{{"part_number": 1, "etag": "abc"}}}
	routes := []route{
		{"POST", "/uploads/%s/complete", parts, func() string { return a.pending }, 409, nil}, // single-part: nothing to complete
		{"DELETE", "/uploads/%s", nil, a.freshPending, 204, nil},
		{"GET", "/assets/%s", nil, func() string { return a.ready }, 200, nil},
		{"DELETE", "/assets/%s", nil, a.freshReady, 204, nil},
		{"GET", "/assets/%s/download", nil, func() string { return a.ready }, 200, nil},
		{"GET", "/assets/%s/download", nil, func() string { return a.out }, 200, nil},
		{"GET", "/jobs/%s", nil, func() string { return a.job }, 200, nil},
		{"POST", "/jobs/%s/cancel", nil, a.freshJob, 200, nil},
		// A queued job has no transcript yet and is not a voiceover that succeeded.
		{"GET", "/jobs/%s/transcript", nil, func() string { return a.job }, 409, nil},
		{"PATCH", "/jobs/%s/segments/0", map[string]any{"text": "Hi."}, func() string { return a.job }, 409, nil},
		{"POST", "/jobs/%s/rerender", nil, func() string { return a.job }, 409, map[string]string{"Idempotency-Key": uuid.NewString()}},
		{"GET", "/webhooks/%s/deliveries", nil, func() string { return a.hook }, 200, nil},
		{"POST", "/webhooks/%s/test", nil, func() string { return a.hook }, 202, nil},
		{"DELETE", "/webhooks/%s", nil, a.freshHook, 204, nil},
	}
	for _, rt := range routes {
		name := rt.method + " " + fmt.Sprintf(rt.path, "{id}")
		cells := []struct {
			cell   string
			id     string
			token  string
			status int
		}{
			{"own", rt.own(), a.token, rt.ownStatus},
			{"other user's", b.ready, a.token, 404},
			{"other user's job", b.job, a.token, 404},
			{"other user's output", b.out, a.token, 404},
			{"other user's webhook", b.hook, a.token, 404},
			{"missing", missing, a.token, 404},
			{"malformed", malformed, a.token, 400},
			{"signed out, own", rt.own(), "", 401},
			{"signed out, malformed", malformed, "", 401},
		}
		for _, c := range cells {
			r := e.do(t, call{method: rt.method, path: fmt.Sprintf(rt.path, c.id), body: rt.body, token: c.token, headers: rt.headers})
			require.Equal(t, c.status, r.Status, "%s, %s id: %s", name, c.cell, r.Body)
		}
	}

	plain := []struct {
		method, path string
		body         any
		headers      map[string]string
		in, out      int
	}{
		{"GET", "/me", nil, nil, 200, 401},
		{"POST", "/uploads", map[string]any{"filename": "a.mp3", "content_type": "audio/mpeg", "size_bytes": 10}, nil, 201, 401},
		{"GET", "/assets", nil, nil, 200, 401},
		{"GET", "/jobs", nil, nil, 200, 401},
		{"POST", "/jobs", map[string]any{"asset_id": a.ready, "recipe": "captions"}, map[string]string{"Idempotency-Key": uuid.NewString()}, 201, 401},
		{"GET", "/webhooks", nil, nil, 200, 401},
		{"POST", "/webhooks", map[string]any{"url": "https://93.184.215.14/plain"}, map[string]string{"Idempotency-Key": uuid.NewString()}, 201, 401},
	}
	for _, p := range plain {
		r := e.do(t, call{method: p.method, path: p.path, body: p.body, token: a.token, headers: p.headers})
		require.Equal(t, p.in, r.Status, "%s %s signed in: %s", p.method, p.path, r.Body)
		r = e.do(t, call{method: p.method, path: p.path, body: p.body, headers: p.headers})
		require.Equal(t, p.out, r.Status, "%s %s signed out: %s", p.method, p.path, r.Body)
	}

	// Nothing of Bob's changed while Alice probed his ids.
	for _, path := range []string{"/assets/" + b.ready, "/assets/" + b.pending, "/jobs/" + b.job, "/webhooks/" + b.hook + "/deliveries"} {
		r := e.do(t, call{method: "GET", path: path, token: b.token})
		require.Equal(t, 200, r.Status, path)
	}
	var status string
	require.NoError(t, e.db.QueryRow(context.Background(), `SELECT status FROM jobs WHERE id = $1`, b.job).Scan(&status))
	require.Equal(t, "queued", status)

	// Lists show only the caller's own things.
	var list struct{ Items []struct{ ID string } }
	e.do(t, call{method: "GET", path: "/assets", token: b.token}).JSON(t, &list)
	for _, it := range list.Items {
		require.NotEqual(t, a.ready, it.ID)
	}
	e.do(t, call{method: "GET", path: "/webhooks", token: b.token}).JSON(t, &list)
	require.Len(t, list.Items, 1)
	require.Equal(t, b.hook, list.Items[0].ID)

	// Logging out revokes the token.
	r := e.do(t, call{method: "POST", path: "/auth/logout", token: a.token})
	require.Equal(t, 204, r.Status)
	r = e.do(t, call{method: "GET", path: "/me", token: a.token})
	require.Equal(t, 401, r.Status)

	// Signing out everywhere revokes every session of the caller, and only the caller's.
	laptop, _ := e.login(t, "bob@example.com")
	r = e.do(t, call{method: "DELETE", path: "/sessions", token: laptop})
	require.Equal(t, 204, r.Status)
	for _, token := range []string{laptop, b.token} {
		require.Equal(t, 401, e.do(t, call{method: "GET", path: "/me", token: token}).Status)
	}
	carol, _ := e.login(t, "carol@example.com")
	require.Equal(t, 200, e.do(t, call{method: "GET", path: "/me", token: carol}).Status)
	require.Equal(t, 401, e.do(t, call{method: "DELETE", path: "/sessions"}).Status)
}
