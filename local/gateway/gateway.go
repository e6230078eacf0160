// Package gateway is the local stand-in for API Gateway HTTP API: it turns
// HTTP requests into payload format 2.0 events for the function whose route
// matches (routes come from template.yaml), and maps the function's answer
// back, answering as API Gateway does when something goes wrong: 404 for an
// unknown route, 413 over 10 MB, 502 for a function error or bad answer,
// 503 when the integration times out, 429 when the function is throttled.
// GET requests that match no route may go to a [Site], the built web app.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/local/invoke"
	"github.com/redub/redub/local/template"
)

// MaxBody is API Gateway's payload limit.
const MaxBody = 10 << 20

// Router finds the route for a request (template.Template implements it).
type Router interface {
	MatchRoute(method, path string) (template.Route, map[string]string, bool)
}

// Options tune the gateway.
type Options struct {
	Timeout   time.Duration // integration timeout; API Gateway's maximum is 30s
	AccountID string
	Region    string
	Log       *slog.Logger
	// Site, when set, answers the GET and HEAD requests that match no route
	// (the web app); without it they get API Gateway's 404.
	Site http.Handler
}

// Gateway is an http.Handler.
type Gateway struct {
	router Router
	inv    invoke.Invoker
	opts   Options
}

// New returns a gateway routing with router and invoking through inv.
func New(router Router, inv invoke.Invoker, opts Options) *Gateway {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.AccountID == "" {
		opts.AccountID = "000000000000"
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Gateway{router: router, inv: inv, opts: opts}
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("Apigw-Requestid", reqID)
	route, params, ok := g.router.MatchRoute(r.Method, r.URL.EscapedPath())
	if !ok {
		if g.opts.Site != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			g.opts.Site.ServeHTTP(w, r)
			return
		}
		message(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.ContentLength > MaxBody {
		message(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		message(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > MaxBody {
		message(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ev := g.Event(r, route, params, body, reqID, start)
	payload, err := json.Marshal(ev)
	if err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.Timeout)
	defer cancel()
	res, err := g.inv.Invoke(ctx, route.Function, payload)
	status := 0
	switch {
	case errors.Is(err, invoke.ErrThrottled):
		status = http.StatusTooManyRequests
		message(w, status, "Too Many Requests")
	case errors.Is(err, invoke.ErrTimeout), errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		status = http.StatusServiceUnavailable
		message(w, status, "Service Unavailable")
	case err != nil, res.FunctionError != "":
		status = http.StatusBadGateway
		message(w, status, "Internal Server Error")
	default:
		status, err = writeResponse(w, res.Payload)
		if err != nil {
			g.opts.Log.Warn("malformed function response", "function", route.Function, "error", err.Error())
			status = http.StatusBadGateway
			message(w, status, "Internal Server Error")
		}
	}
	g.opts.Log.Info("request", "method", r.Method, "path", r.URL.Path, "route", route.Method+" "+route.Path,
		"function", route.Function, "status", status, "ms", time.Since(start).Milliseconds(),
		"error", errString(err, res.FunctionError))
}

// Event builds the payload format 2.0 event for r.
func (g *Gateway) Event(r *http.Request, route template.Route, params map[string]string, body []byte, reqID string, at time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lk] = strings.Join(vs, ",")
	}
	host := r.Host
	headers["host"] = host
	ip, port := clientAddr(r)
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + ip
	} else {
		headers["x-forwarded-for"] = ip
	}
	headers["x-forwarded-proto"] = "http"
	headers["x-forwarded-port"] = port
	headers["x-amzn-trace-id"] = "Root=1-" + strconv.FormatInt(at.Unix(), 16) + "-" + reqID[:24]
	if len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}

	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = make(map[string]string, len(q))
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	routeKey := route.Method + " " + route.Path
	if route.Path == template.DefaultRoute {
		routeKey = template.DefaultRoute
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    g.opts.AccountID,
			Stage:        "$default",
			RequestID:    reqID,
			APIID:        "local",
			DomainName:   hostOnly(host),
			DomainPrefix: strings.SplitN(hostOnly(host), ".", 2)[0],
			Time:         at.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    at.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.EscapedPath(),
				Protocol:  r.Proto,
				SourceIP:  ip,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// writeResponse maps a function's answer back to HTTP as payload format 2.0
// does: a structured answer (with statusCode) or any other JSON value, which
// becomes a 200 application/json body.
func writeResponse(w http.ResponseWriter, payload []byte) (int, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil || probe["statusCode"] == nil {
		if !json.Valid(payload) {
			return 0, fmt.Errorf("function returned invalid JSON")
		}
		body := payload
		var s string
		if json.Unmarshal(payload, &s) == nil {
			body = []byte(s)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return http.StatusOK, nil
	}
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &res); err != nil {
		return 0, fmt.Errorf("decode structured response: %w", err)
	}
	if res.StatusCode < 100 || res.StatusCode > 599 {
		return 0, fmt.Errorf("status code %d out of range", res.StatusCode)
	}
	body := []byte(res.Body)
	if res.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(res.Body)
		if err != nil {
			return 0, fmt.Errorf("decode base64 body: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	for k, vs := range res.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range res.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("Content-Type") == "" && len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
	return res.StatusCode, nil
}

func message(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"message":%q}`, msg)
}

func isText(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || strings.HasSuffix(mt, "+xml") || mt == "application/javascript" ||
		mt == "application/x-www-form-urlencoded"
}

func clientAddr(r *http.Request) (ip, port string) {
	host, p, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr, "80"
	}
	if l, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, lp, err := net.SplitHostPort(l.String()); err == nil {
			p = lp
		}
	}
	return host, p
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func errString(err error, fnErr string) string {
	switch {
	case err != nil:
		return err.Error()
	case fnErr != "":
		return "function error: " + fnErr
	}
	return ""
}
