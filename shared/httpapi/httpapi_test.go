package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/httpapi"
	"github.com/redub/redub/shared/obs"
)

type upload struct {
	Filename  string         `json:"filename"`
	SizeBytes int64          `json:"size_bytes"`
	Params    map[string]any `json:"params"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, ctype string
		max               int64
		code              apperr.Code
		field             string
	}{
		{name: "ok", body: `{"filename":"a.mp4","size_bytes":10}`},
		{name: "empty", body: ``, code: apperr.Invalid},
		{name: "malformed", body: `{"filename":`, code: apperr.Invalid},
		{name: "syntax", body: `{"filename" "x"}`, code: apperr.Invalid},
		{name: "wrong type", body: `{"size_bytes":"ten"}`, code: apperr.Invalid, field: "size_bytes"},
		{name: "not an object", body: `[1,2]`, code: apperr.Invalid},
		{name: "unknown field", body: `{"filenme":"a"}`, code: apperr.Invalid, field: "filenme"},
		{name: "trailing data", body: `{"filename":"a"} {"x":1}`, code: apperr.Invalid},
		{name: "trailing garbage", body: `{"filename":"a"} x`, code: apperr.Invalid},
		{name: "too large", body: `{"filename":"` + strings.Repeat("a", 100) + `"}`, max: 50, code: apperr.TooLarge},
		{name: "wrong content type", body: `{}`, ctype: "text/plain", code: apperr.UnsupportedMedia},
		{name: "json suffix ok", body: `{}`, ctype: "application/merge-patch+json"},
		{name: "huge number", body: `{"size_bytes":1e400}`, code: apperr.Invalid, field: "size_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/uploads", strings.NewReader(tc.body))
			ct := tc.ctype
			if ct == "" {
				ct = "application/json"
			}
			r.Header.Set("Content-Type", ct)
			var v upload
			err := httpapi.Decode(httptest.NewRecorder(), r, &v, tc.max)
			if tc.code == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			e, ok := apperr.As(err)
			require.True(t, ok, "want *apperr.Error, got %T", err)
			require.Equal(t, tc.code, e.Code)
			require.Equal(t, tc.field, e.Field)
			require.Less(t, httpapi.Status(e.Code), 500)
		})
	}
}

func TestErrorHidesInternals(t *testing.T) {
	t.Parallel()
	ctx := obs.With(t.Context(), obs.RequestID, "req-1")
	ctx, slot := httpapi.WithErrorSlot(ctx)
	r := httptest.NewRequest(http.MethodGet, "/jobs/x", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	secret := errors.New(`ERROR: relation "jobs" does not exist (SQLSTATE 42P01)`)
	httpapi.Error(w, r, fmt.Errorf("get job: %w", secret))

	require.Equal(t, 500, w.Code)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	require.NotContains(t, w.Body.String(), "relation")
	var p httpapi.Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	require.Equal(t, "internal", p.Code)
	require.Equal(t, "req-1", p.RequestID)
	require.Equal(t, "/jobs/x", p.Instance)
	require.ErrorIs(t, slot.Err, secret, "the adapter must see the real error")
}

func TestErrorShowsDomainMessage(t *testing.T) {
	t.Parallel()
	ctx, slot := httpapi.WithErrorSlot(t.Context())
	r := httptest.NewRequest(http.MethodGet, "/jobs/x", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	httpapi.Error(w, r, fmt.Errorf("load: %w", apperr.New(apperr.NotFound, "job not found")))
	require.Equal(t, 404, w.Code)
	var p httpapi.Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	require.Equal(t, "job not found", p.Detail)
	require.Equal(t, httpapi.ProblemType+"not_found", p.Type)
	require.NoError(t, slot.Err, "4xx errors are not server faults")
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	for code, want := range map[apperr.Code]int{
		apperr.Invalid: 400, apperr.Unauthenticated: 401, apperr.Forbidden: 403, apperr.NotFound: 404,
		apperr.Conflict: 409, apperr.TooLarge: 413, apperr.UnsupportedMedia: 415, apperr.Unprocessable: 422,
		apperr.RateLimited: 429, apperr.Internal: 500, apperr.Unavailable: 503, apperr.Code("nonsense"): 500,
	} {
		require.Equal(t, want, httpapi.Status(code), code)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"filename":"a.mp4","size_bytes":1}`, `{`, `[]`, `{"params":{"a":[1,{}]}}`, "\x00", `{"size_bytes":-1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/uploads", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v upload
		err := httpapi.Decode(httptest.NewRecorder(), r, &v, 4096)
		if err != nil {
			if st := httpapi.Status(apperr.CodeOf(err)); st >= 500 {
				t.Fatalf("decode of %q gave a server error: %v", body, err)
			}
		}
	})
}
