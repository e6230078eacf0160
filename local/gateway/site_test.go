package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/gateway"
	"github.com/redub/redub/local/invoke"
	"github.com/redub/redub/local/template"
)

type oneRoute struct{}

func (oneRoute) MatchRoute(method, path string) (template.Route, map[string]string, bool) {
	if strings.HasPrefix(path, "/assets/") && method == http.MethodGet {
		return template.Route{Function: "GetAssetFunction", Method: "GET", Path: "/assets/{id}"}, map[string]string{"id": path[len("/assets/"):]}, true
	}
	return template.Route{}, nil, false
}

type answer struct{ calls []string }

func (a *answer) Invoke(_ context.Context, function string, _ []byte) (invoke.Result, error) {
	a.calls = append(a.calls, function)
	return invoke.Result{Payload: []byte(`{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"from\":\"api\"}"}`)}, nil
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
}

func TestSiteServesTheWebAppBesideTheAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "index.html", "<h1>landing</h1>")
	write(t, dir, "app/index.html", "<div id=root>console</div>")
	write(t, dir, "static/app-abc123.js", "console.log(1)")
	inv := &answer{}
	srv := httptest.NewServer(gateway.New(oneRoute{}, inv, gateway.Options{
		Site: &gateway.Site{Dir: dir, Storage: "http://127.0.0.1:3900"},
	}))
	t.Cleanup(srv.Close)

	get := func(method, path string) (*http.Response, string) {
		req, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}

	tests := []struct {
		method, path, body, cache string
		status                    int
	}{
		{"GET", "/", "<h1>landing</h1>", "no-cache", 200},
		{"GET", "/app/", "console", "no-cache", 200},
		{"GET", "/app", "console", "no-cache", 200},
		{"GET", "/app/jobs/0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11", "console", "no-cache", 200},
		{"GET", "/static/app-abc123.js", "console.log(1)", "public, max-age=31536000, immutable", 200},
		{"GET", "/assets/0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11", `{"from":"api"}`, "", 200},
		{"GET", "/static/missing.js", `{"message":"Not Found"}`, "", 404},
		{"GET", "/nothing", `{"message":"Not Found"}`, "", 404},
		{"GET", "/../../etc/passwd", `{"message":"Not Found"}`, "", 404},
		{"POST", "/app/", `{"message":"Not Found"}`, "", 404},
	}
	for _, tt := range tests {
		res, body := get(tt.method, tt.path)
		require.Equal(t, tt.status, res.StatusCode, "%s %s: %s", tt.method, tt.path, body)
		require.Contains(t, body, tt.body, "%s %s", tt.method, tt.path)
		require.Equal(t, tt.cache, res.Header.Get("Cache-Control"), "%s %s", tt.method, tt.path)
		if tt.status == 200 && tt.cache != "" {
			csp := res.Header.Get("Content-Security-Policy")
			require.Contains(t, csp, "frame-ancestors 'none'")
			require.Contains(t, csp, "connect-src 'self' http://127.0.0.1:3900")
		}
	}
	require.Equal(t, []string{"GetAssetFunction"}, inv.calls, "only the API route reaches a function")
}

func TestSiteNotBuilt(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(gateway.New(oneRoute{}, &answer{}, gateway.Options{Site: &gateway.Site{Dir: t.TempDir()}}))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, 404, res.StatusCode)
	require.Contains(t, string(b), "make web")
}
