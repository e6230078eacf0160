package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bounds of waiting out Retry-After.
const (
	maxRetryWait = 60 * time.Second // in total, per request
	maxRetries   = 5
)

// newHTTPClient is the client every command talks HTTP with (the API, the
// local stack's control endpoint, presigned URLs): a 429 or 503 answer
// that carries Retry-After is sent again once that time has passed, up to
// 5 times and 60 s of waiting per request; each wait is reported on log.
// An answer without Retry-After, or asking for more than is left of the
// 60 s, is returned as it is, for the command to report.
func newHTTPClient(log io.Writer) *http.Client {
	return &http.Client{Transport: &retryAfter{next: http.DefaultTransport, log: log}}
}

// retryAfter is the RoundTripper behind newHTTPClient.
type retryAfter struct {
	next http.RoundTripper
	log  io.Writer
}

// RoundTrip implements http.RoundTripper.
func (t *retryAfter) RoundTrip(req *http.Request) (*http.Response, error) {
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		res, err := t.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusServiceUnavailable {
			return res, nil
		}
		wait, ok := parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
		rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		if !ok || !rewindable || attempt >= maxRetries || waited+wait > maxRetryWait {
			return res, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
		res.Body.Close()
		fmt.Fprintf(t.log, "redub: %s %s answered %d; retrying in %s as Retry-After asks\n", req.Method, req.URL.Path, res.StatusCode, wait)
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
		waited += wait
		next := req.Clone(req.Context())
		if req.GetBody != nil {
			if next.Body, err = req.GetBody(); err != nil {
				return nil, fmt.Errorf("retry %s %s: %w", req.Method, req.URL.Path, err)
			}
		}
		req = next
	}
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date (RFC 9110
// section 10.2.3). It reports false when the header is missing or malformed.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, at.Sub(now)), true
}
