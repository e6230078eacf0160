package lambdarun

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/httpapi"
	"github.com/redub/redub/shared/obs"
)

// HTTPHandler is the Lambda handler for API Gateway HTTP API (payload 2.0).
type HTTPHandler func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// HTTP adapts a net/http handler to API Gateway HTTP API events. Path
// parameters become r.PathValue, cookies the Cookie header, base64 bodies
// are decoded; Set-Cookie headers become the response's cookies and
// non-text bodies are base64-encoded. A panic becomes a 500 problem; 5xx
// answers are logged and reported to Sentry, which is flushed before return.
func HTTP(app *App, h http.Handler) HTTPHandler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		start := time.Now()
		ctx = obs.With(ctx, obs.RequestID, ev.RequestContext.RequestID)
		if tid := ev.Headers["x-amzn-trace-id"]; tid != "" {
			ctx = obs.With(ctx, obs.TraceID, tid)
		}
		ctx, slot := httpapi.WithErrorSlot(ctx)
		r, err := NewRequest(ctx, ev)
		if err != nil {
			r, _ = http.NewRequestWithContext(ctx, ev.RequestContext.HTTP.Method, "/", nil)
			w := newRecorder()
			httpapi.Error(w, r, apperr.Wrap(apperr.Invalid, err, "malformed request"))
			return w.response(), nil
		}
		w := newRecorder()
		serve(ctx, app, h, w, r)
		if slot.Err != nil {
			app.Log.ErrorContext(ctx, "request failed", "method", r.Method, "path", r.URL.Path, "status", w.status, "error", slot.Err.Error())
			app.Reporter.CaptureError(ctx, slot.Err)
			app.Reporter.Flush(2 * time.Second)
		}
		app.Log.InfoContext(ctx, "request", "method", r.Method, "path", ev.RawPath, "status", w.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
		return w.response(), nil
	}
}

func serve(ctx context.Context, app *App, h http.Handler, w *recorder, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			app.Log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			app.Reporter.CapturePanic(ctx, p)
			app.Reporter.Flush(2 * time.Second)
			w.reset()
			httpapi.WriteProblem(w, httpapi.ProblemFor(ctx, fmt.Errorf("panic: %v", p)))
		}
	}()
	h.ServeHTTP(w, r)
}

// NewRequest turns a payload 2.0 event into an *http.Request.
func NewRequest(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		body = b
	}
	path := ev.RawPath
	if path == "" {
		path = "/"
	}
	u := &url.URL{Path: path, RawQuery: ev.RawQueryString}
	if p, err := url.PathUnescape(path); err == nil && p != path {
		u.Path, u.RawPath = p, path
	}
	r, err := http.NewRequestWithContext(ctx, ev.RequestContext.HTTP.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, "cookie") {
			continue
		}
		r.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	} else if c := ev.Headers["cookie"]; c != "" {
		r.Header.Set("Cookie", c)
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	r.ContentLength = int64(len(body))
	r.RequestURI = u.RequestURI()
	for k, v := range ev.PathParameters {
		r.SetPathValue(k, v)
	}
	return r, nil
}

type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
	wrote  bool
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, status: http.StatusOK} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(b)
}

func (w *recorder) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.status, w.wrote = status, true
}

func (w *recorder) reset() {
	w.header = http.Header{}
	w.body.Reset()
	w.status, w.wrote = http.StatusOK, false
}

func (w *recorder) response() events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	for k, vs := range w.header {
		if strings.EqualFold(k, "Set-Cookie") {
			res.Cookies = append(res.Cookies, vs...)
			continue
		}
		res.Headers[k] = strings.Join(vs, ", ")
	}
	if w.body.Len() > 0 {
		ct := w.header.Get("Content-Type")
		if ct == "" {
			ct = http.DetectContentType(w.body.Bytes())
			res.Headers["Content-Type"] = ct
		}
		if isText(ct) {
			res.Body = w.body.String()
		} else {
			res.Body = base64.StdEncoding.EncodeToString(w.body.Bytes())
			res.IsBase64Encoded = true
		}
	}
	return res
}

func isText(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || strings.HasSuffix(mt, "+xml") || mt == "application/javascript" ||
		mt == "application/yaml" || mt == "application/x-www-form-urlencoded"
}
