package e2e_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Bad input gets a 4xx problem+json that says what is wrong, never a 5xx.
func TestBadInputIsAClearClientError(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, _ := e.login(t, "fuzzy@example.com")
	ready := e.upload(t, token, "x.mp4")
	e.markReady(t, ready)
	good := func(over map[string]any) map[string]any {
		b := map[string]any{"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": 1000}
		for k, v := range over {
			b[k] = v
		}
		return b
	}
	idem := map[string]string{"Idempotency-Key": uuid.NewString()}
	cases := []struct {
		name    string
		c       call
		status  int
		mention string
	}{
		{"malformed JSON", call{method: "POST", path: "/uploads", body: `{"filename":`}, 400, "truncated"},
		{"not an object", call{method: "POST", path: "/uploads", body: `[1,2,3]`}, 400, "object"},
		{"empty body", call{method: "POST", path: "/uploads", body: ``}, 400, "empty"},
		{"wrong type", call{method: "POST", path: "/uploads", body: `{"filename":5,"content_type":"video/mp4","size_bytes":1}`}, 400, "filename"},
		{"fractional size", call{method: "POST", path: "/uploads", body: `{"filename":"a.mp4","content_type":"video/mp4","size_bytes":1.5}`}, 400, "size_bytes"},
		{"unknown field", call{method: "POST", path: "/uploads", body: good(map[string]any{"owner": "bob"})}, 400, "owner"},
		{"oversize body", call{method: "POST", path: "/uploads", body: good(map[string]any{"filename": strings.Repeat("a", 20<<10)})}, 413, "limit"},
		{"negative size", call{method: "POST", path: "/uploads", body: good(map[string]any{"size_bytes": -5})}, 400, "size_bytes"},
		{"zero size", call{method: "POST", path: "/uploads", body: good(map[string]any{"size_bytes": 0})}, 400, "size_bytes"},
		{"huge size", call{method: "POST", path: "/uploads", body: good(map[string]any{"size_bytes": int64(1) << 50})}, 413, "limit"},
		{"size past int64", call{method: "POST", path: "/uploads", body: `{"filename":"a.mp4","content_type":"video/mp4","size_bytes":99999999999999999999999}`}, 400, "size_bytes"},
		{"path in filename", call{method: "POST", path: "/uploads", body: good(map[string]any{"filename": "../../etc/passwd"})}, 400, "filename"},
		{"backslash in filename", call{method: "POST", path: "/uploads", body: good(map[string]any{"filename": `..\win.ini`})}, 400, "filename"},
		{"NUL in filename", call{method: "POST", path: "/uploads", body: good(map[string]any{"filename": "a\u0000b.mp4"})}, 400, "filename"},
		{"newline in filename", call{method: "POST", path: "/uploads", body: good(map[string]any{"filename": "a\nb.mp4"})}, 400, "filename"},
		{"RTL override in filename", call{method: "POST", path: "/uploads", body: good(map[string]any{"filename": "evil\u202Egpj.exe"})}, 400, "filename"},
		{"empty filename", call{method: "POST", path: "/uploads", body: good(map[string]any{"filename": "  "})}, 400, "filename"},
		{"not media", call{method: "POST", path: "/uploads", body: good(map[string]any{"content_type": "application/pdf"})}, 400, "content_type"},
		{"bad media type", call{method: "POST", path: "/uploads", body: good(map[string]any{"content_type": "video"})}, 400, "content_type"},
		{"unknown recipe", call{method: "POST", path: "/uploads", body: good(map[string]any{"recipe": "karaoke"})}, 400, "karaoke"},
		{"bad params", call{method: "POST", path: "/uploads", body: good(map[string]any{"recipe": "voiceover", "params": map[string]any{"target_language": "klingon!!"}})}, 400, "target_language"},
		{"tiny multipart", call{method: "POST", path: "/uploads", body: good(map[string]any{"multipart": true})}, 400, "multipart"},
		{"wrong content type", call{method: "POST", path: "/uploads", body: `{}`, headers: map[string]string{"Content-Type": "text/plain"}}, 415, "application/json"},
		{"bad upload id", call{method: "POST", path: "/uploads/123/complete", body: `{"parts":[]}`}, 400, "UUID"},
		{"no parts", call{method: "POST", path: "/uploads/" + ready + "/complete", body: `{"parts":[]}`}, 409, ""},
		{"missing idempotency key", call{method: "POST", path: "/jobs", body: map[string]any{"asset_id": ready, "recipe": "transcode"}}, 400, "Idempotency-Key"},
		{"bad asset id", call{method: "POST", path: "/jobs", headers: idem, body: map[string]any{"asset_id": "../x", "recipe": "transcode"}}, 400, "asset_id"},
		{"unknown job recipe", call{method: "POST", path: "/jobs", headers: idem, body: map[string]any{"asset_id": ready, "recipe": "x"}}, 400, "recipe"},
		{"transcode with a language", call{method: "POST", path: "/jobs", headers: idem, body: map[string]any{"asset_id": ready, "recipe": "transcode", "params": map[string]any{"target_language": "es"}}}, 400, "transcode"},
		{"bad cursor", call{method: "GET", path: "/jobs?cursor=%27%3B--"}, 400, "cursor"},
		{"bad limit", call{method: "GET", path: "/assets?limit=abc"}, 400, "limit"},
		{"limit out of range", call{method: "GET", path: "/assets?limit=1000"}, 400, "limit"},
		{"bad status", call{method: "GET", path: "/jobs?status=exploded"}, 400, "status"},
		{"bad dev login", call{method: "POST", path: "/auth/dev-login", body: `{"email":"not an email"}`}, 400, "email"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.c.path != "/auth/dev-login" {
				tc.c.token = token
			}
			r := e.do(t, tc.c)
			require.Equal(t, tc.status, r.Status, string(r.Body))
			require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
			require.Contains(t, string(r.Body), tc.mention)
			require.NotContains(t, string(r.Body), "SQLSTATE")
			require.NotContains(t, string(r.Body), "goroutine")
		})
	}

	// The same key with the same body gives the same job; with another body, 422.
	key := map[string]string{"Idempotency-Key": "retry-" + uuid.NewString()}
	body := map[string]any{"asset_id": ready, "recipe": "captions", "params": map[string]any{"target_language": "es"}}
	first := e.do(t, call{method: "POST", path: "/jobs", token: token, headers: key, body: body})
	require.Equal(t, 201, first.Status, string(first.Body))
	again := e.do(t, call{method: "POST", path: "/jobs", token: token, headers: key, body: body})
	require.Equal(t, 200, again.Status)
	var j1, j2 struct{ ID string }
	first.JSON(t, &j1)
	again.JSON(t, &j2)
	require.Equal(t, j1.ID, j2.ID)
	body["recipe"] = "voiceover"
	other := e.do(t, call{method: "POST", path: "/jobs", token: token, headers: key, body: body})
	require.Equal(t, 422, other.Status)
}
