package provider

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults for the zero fields of a Policy.
const (
	DefaultMaxAttempts = 4
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 20 * time.Second
)

// maxErrorBody is how much of an error answer is read to explain it.
const maxErrorBody = 64 << 10

// maxMessage is the longest provider message kept in an *Error.
const maxMessage = 500

// Error is a failed call to a provider.
type Error struct {
	Provider   string        // "OpenAI", "ElevenLabs"
	Status     int           // the HTTP status; 0 when no answer came (network error)
	Code       string        // the provider's error code ("invalid_api_key", "insufficient_quota", ...), if any
	Message    string        // the provider's explanation, with credentials removed
	Permanent  bool          // true when repeating the same request cannot succeed
	RetryAfter time.Duration // how long the provider asked to wait; 0 when it did not say
	KeyVar     string        // the environment variable holding the API key ("OPENAI_API_KEY")
	Attempts   int           // how many requests were sent
	Err        error         // the underlying network error, when Status is 0
}

// Error describes the failure for a person: who failed, why, and what to
// check, e.g. "OpenAI refused the API key (401): check OPENAI_API_KEY:
// Incorrect API key provided: [redacted] [invalid_api_key]". The provider's
// code, if any, ends the first part.
func (e *Error) Error() string {
	who := e.Provider
	if who == "" {
		who = "the provider"
	}
	status := strconv.Itoa(e.Status)
	var b strings.Builder
	switch {
	case e.Status == 0:
		fmt.Fprintf(&b, "%s could not be reached", who)
	case QuotaCode(e.Code):
		fmt.Fprintf(&b, "%s says the account is out of quota or credits (%s): check the plan and billing", who, status)
	case e.Status == http.StatusUnauthorized:
		fmt.Fprintf(&b, "%s refused the API key (%s): check %s", who, status, keyVar(e.KeyVar))
	case e.Status == http.StatusForbidden:
		fmt.Fprintf(&b, "%s denied access (%s): check what %s may use", who, status, keyVar(e.KeyVar))
	case e.Status == http.StatusTooManyRequests:
		fmt.Fprintf(&b, "%s rate limit hit (%s)", who, status)
	case e.Status >= 500:
		fmt.Fprintf(&b, "%s server error (%s)", who, status)
	case e.Status < 300:
		fmt.Fprintf(&b, "%s gave an unusable answer (%s)", who, status)
	default:
		fmt.Fprintf(&b, "%s rejected the request (%s)", who, status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	if e.Status == 0 && e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if !e.Permanent && e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the network error, if any.
func (e *Error) Unwrap() error { return e.Err }

func keyVar(name string) string {
	if name == "" {
		return "the API key"
	}
	return name
}

// QuotaCode reports whether a provider error code means the account has run
// out of money or credits: OpenAI's insufficient_quota, ElevenLabs'
// quota_exceeded.
func QuotaCode(code string) bool {
	return code == "insufficient_quota" || code == "quota_exceeded"
}

// Permanent reports whether err holds an *Error that no retry can fix.
func Permanent(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Permanent
}

// Policy says how Do retries. The zero value of each field means its default.
type Policy struct {
	Provider string // names the provider in errors: "OpenAI"
	KeyVar   string // the environment variable named when the key is refused: "OPENAI_API_KEY"

	MaxAttempts int           // requests sent at most, the first included; default 4
	BaseDelay   time.Duration // the first backoff's upper bound; default 500 ms
	MaxDelay    time.Duration // the longest wait; default 20 s. Longer Retry-After hints are returned, not waited out.

	// ParseError reads the provider's error body into a code and a message;
	// empty results fall back to a generic reading ({"error":{"message"}},
	// {"message"} or short plain text).
	ParseError func(body []byte) (code, message string)

	// Sleep waits d or until ctx ends, returning ctx's error in that case.
	// Tests replace it to record the waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error

	// OnRetry, when set, is told of each failed attempt that will be retried
	// and how long Do will wait first (for logs and progress).
	OnRetry func(attempt int, err *Error, wait time.Duration)

	// Pacer, when set, is shared by every request to this provider in one
	// invocation: it bounds the requests in flight, and a 429 or a
	// Retry-After holds all of them (see Pacer). nil: no pacing.
	Pacer *Pacer
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// Backoff returns the upper bound of the wait before retry number attempt
// (1 for the wait after the first failure): BaseDelay*2^(attempt-1), capped
// at MaxDelay. Do waits a uniformly random time in [0, Backoff(attempt)].
func (p Policy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxDelay)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Do sends the request made by build, retrying as the package documentation
// describes, and returns the first answer with a 2xx status; the caller
// closes its body. build is called once per attempt, so each attempt gets a
// fresh body; the request's context is replaced by ctx. A nil client means
// http.DefaultClient.
//
// Do returns an *Error when the provider refused the request (at once if the
// refusal is permanent), when every attempt failed, or when the next wait is
// longer than MaxDelay or would pass ctx's deadline. It returns an error
// wrapping ctx's error when ctx ends first, and build's error, wrapped, if
// build fails.
func Do(ctx context.Context, client *http.Client, policy Policy, build func() (*http.Request, error)) (*http.Response, error) {
	p := policy.withDefaults()
	if client == nil {
		client = http.DefaultClient
	}
	var last *Error
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return nil, p.abandoned(ctx, attempt-1, last)
		}
		req, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: build request: %w", p.name(), err)
		}
		req = req.WithContext(ctx)
		secrets := credentials(req.Header)

		release, err := p.Pacer.acquire(ctx, p.MaxDelay)
		if err != nil {
			if held, ok := errors.AsType[*Error](err); ok {
				held.Attempts = attempt - 1
				return nil, held
			}
			return nil, p.abandoned(ctx, attempt-1, last)
		}
		resp, err := client.Do(req)
		switch {
		case err != nil && ctx.Err() != nil:
			release()
			return nil, p.abandoned(ctx, attempt, last)
		case err != nil:
			release()
			last = p.networkError(err)
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if p.Pacer != nil {
				resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
			}
			return resp, nil
		default:
			last = p.answerError(resp, secrets)
			release()
		}
		last.Attempts = attempt
		if last.Permanent || attempt >= p.MaxAttempts {
			return nil, last
		}

		wait := last.RetryAfter
		if wait == 0 {
			wait = rand.N(p.Backoff(attempt) + 1) //nolint:gosec // jitter, not a secret
		}
		holds := p.Pacer != nil && (last.Status == http.StatusTooManyRequests || last.RetryAfter > 0)
		if wait > p.MaxDelay || func() bool { deadline, ok := ctx.Deadline(); return ok && time.Until(deadline) < wait }() {
			if holds {
				p.Pacer.hold(wait, last, p.Sleep) // the others are held even though this one gives up
			}
			return nil, last
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, last, wait)
		}
		if holds {
			// The provider asked everyone to slow down: the next acquire
			// waits out the hold with every other request.
			p.Pacer.hold(wait, last, p.Sleep)
			continue
		}
		if err := p.Sleep(ctx, wait); err != nil {
			return nil, p.abandoned(ctx, attempt, last)
		}
	}
}

func (p Policy) name() string {
	if p.Provider == "" {
		return "provider"
	}
	return p.Provider
}

// abandoned is the error for a context that ended after attempts requests.
func (p Policy) abandoned(ctx context.Context, attempts int, last *Error) error {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = context.Canceled
	}
	if last == nil {
		return fmt.Errorf("%s request stopped after %d attempt(s): %w", p.name(), attempts, cause)
	}
	return fmt.Errorf("%s request stopped after %d attempt(s): %w; last failure: %w", p.name(), attempts, cause, last)
}

func (p Policy) networkError(err error) *Error {
	e := &Error{Provider: p.Provider, KeyVar: p.KeyVar, Err: err}
	// A certificate the client does not trust will not become trusted by
	// asking again.
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		e.Permanent = true
	}
	return e
}

// answerError reads (and closes) a non-2xx answer.
func (p Policy) answerError(resp *http.Response, secrets []string) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()

	var code, msg string
	if p.ParseError != nil {
		code, msg = p.ParseError(body)
	}
	if code == "" && msg == "" {
		code, msg = parseGeneric(body)
	}
	e := &Error{
		Provider:   p.Provider,
		KeyVar:     p.KeyVar,
		Status:     resp.StatusCode,
		Code:       redact(code, secrets),
		Message:    redact(msg, secrets),
		RetryAfter: RetryAfter(resp.Header, time.Now()),
	}
	e.Permanent = !retryable(resp.StatusCode, code)
	if e.Permanent {
		e.RetryAfter = 0
	}
	return e
}

func retryable(status int, code string) bool {
	switch status {
	case http.StatusTooManyRequests:
		return !QuotaCode(code)
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxRetryAfter bounds parsed hints so that absurd values cannot overflow.
const maxRetryAfter = 24 * time.Hour

// RetryAfter returns the wait an answer asks for: OpenAI's retry-after-ms
// header (milliseconds) when present, else Retry-After as seconds or as an
// HTTP date (relative to now). It returns 0 when neither says anything usable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if d, ok := parseUnits(v, time.Millisecond); ok {
			return d
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if d, ok := parseUnits(v, time.Second); ok {
		return d
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

func parseUnits(v string, unit time.Duration) (time.Duration, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	if f*float64(unit) > float64(maxRetryAfter) {
		return maxRetryAfter, true
	}
	return time.Duration(f * float64(unit)), true
}

// parseGeneric reads the common error shapes: {"error":{"message","code",
// "type"}}, {"error":"..."}, {"message":"...","code":"..."}, or plain text.
func parseGeneric(body []byte) (code, message string) {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Code    any             `json:"code"`
	}
	if err := json.Unmarshal(body, &v); err == nil {
		var inner struct {
			Message string `json:"message"`
			Code    any    `json:"code"`
			Type    string `json:"type"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Error, &inner) == nil && (inner.Message != "" || inner.Code != nil):
			code = CodeString(inner.Code)
			if code == "" {
				code = inner.Type
			}
			return code, inner.Message
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return "", s
		default:
			return CodeString(v.Code), v.Message
		}
	}
	text := strings.TrimSpace(string(body))
	if !utf8.ValidString(text) || strings.HasPrefix(text, "<") {
		return "", "" // binary or an HTML error page: the status says more
	}
	first, _, _ := strings.Cut(text, "\n")
	return "", first
}

// CodeString turns an error code decoded from JSON (a string, a number or
// null) into a string.
func CodeString(v any) string {
	switch c := v.(type) {
	case string:
		return c
	case float64:
		return strconv.FormatFloat(c, 'f', -1, 64)
	}
	return ""
}

// credentials returns the values of the headers that carry API keys, so
// that they can be removed from error messages.
func credentials(h http.Header) []string {
	var out []string
	for _, name := range []string{"Authorization", "Proxy-Authorization", "Xi-Api-Key", "Api-Key", "X-Api-Key"} {
		for _, v := range h.Values(name) {
			v = strings.TrimSpace(v)
			if scheme, rest, ok := strings.Cut(v, " "); ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "Basic")) {
				v = strings.TrimSpace(rest)
			}
			if len(v) >= 4 {
				out = append(out, v)
			}
		}
	}
	return out
}

// keyShape matches API keys and masked keys as providers quote them:
// "sk-proj-abc...", "sk-ab***yz", ElevenLabs' "sk_...".
var keyShape = regexp.MustCompile(`\bsk[-_][A-Za-z0-9_*\-]{2,}`)

// redact removes credentials from s and shortens it to maxMessage.
func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	s = keyShape.ReplaceAllString(s, "[redacted]")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
