package ratelimit

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/httpapi"
)

// Middleware limits the requests of each key to limit per window. It counts a
// request in the bucket name + ":" + key(r), so name tells limits apart
// ("auth:ip" with ClientIP gives buckets like "auth:ip:203.0.113.7"). When key
// returns "" the request is not limited and gets no RateLimit headers.
//
// Every counted answer carries RateLimit-Limit, RateLimit-Remaining,
// RateLimit-Reset (seconds until the window ends) and RateLimit-Policy
// ("<limit>;w=<seconds>"), set before the handler runs. A request over the
// limit does not reach the handler: it gets 429 problem+json (code
// rate_limited) with Retry-After in whole seconds, at least 1.
//
// When the count fails (database unreachable, pooler saturated, deadline) the
// middleware fails open: it logs a warning on log (nil discards) and serves
// the request without RateLimit headers. Failing closed would turn a database
// blip into refusals on every route, including ones that could still answer,
// while buying little: the limits guard against abuse, not against a paid
// resource, the handlers behind them need the same database (sessions, jobs)
// and so fail on their own, and API Gateway stage throttling still caps the
// request rate while the limiter is blind.
//
// An invalid limit or window, a nil Limiter or a nil key is a wiring bug; the
// middleware then answers every request with a 500 problem whose error names
// the cause, so the bug shows in the first request and the error report
// instead of silently disabling the limit.
func Middleware(l *Limiter, name string, limit int, window time.Duration, key func(*http.Request) string, log *slog.Logger) func(http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfgErr := validate(limit, window)
	switch {
	case cfgErr != nil:
	case l == nil:
		cfgErr = errors.New("ratelimit: nil Limiter")
	case key == nil:
		cfgErr = errors.New("ratelimit: nil key function")
	}
	if cfgErr != nil {
		cfgErr = fmt.Errorf("rate limit %q: %w", name, cfgErr)
		return func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				httpapi.Error(w, r, cfgErr)
			})
		}
	}

	limitHeader := strconv.Itoa(limit)
	policy := fmt.Sprintf("%d;w=%d", limit, window/time.Second)
	per := describeWindow(window)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" {
				next.ServeHTTP(w, r)
				return
			}
			d, err := l.Allow(r.Context(), name+":"+k, limit, window)
			if err != nil {
				log.WarnContext(r.Context(), "rate limit unavailable; request let through",
					"limit_name", name, "error", err.Error())
				next.ServeHTTP(w, r)
				return
			}
			reset := ceilSeconds(d.Reset)
			h := w.Header()
			h.Set("RateLimit-Limit", limitHeader)
			h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
			h.Set("RateLimit-Reset", strconv.Itoa(reset))
			h.Set("RateLimit-Policy", policy)
			if !d.Allowed {
				h.Set("Retry-After", strconv.Itoa(reset))
				httpapi.Error(w, r, apperr.New(apperr.RateLimited,
					"Too many requests: the limit is %d per %s. Try again in %s.", limit, per, plural(reset, "second")))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ClientIP returns the caller's IP address, for use as a Middleware key. It
// reads r.RemoteAddr, which lambdarun sets from API Gateway's
// requestContext.http.sourceIp, dropping a port if there is one (as net/http
// servers and httptest set it). It never reads X-Forwarded-For or similar
// headers: callers can forge them.
//
// IPv4-mapped IPv6 addresses come back as IPv4. A RemoteAddr that is not an
// address is returned as it is, so it is still limited; an empty one gives "",
// which Middleware does not limit.
func ClientIP(r *http.Request) string {
	s := strings.TrimSpace(r.RemoteAddr)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return s
}

// ceilSeconds rounds d up to whole seconds, at least 1: a client told to wait
// 0 seconds would retry at once into the same full window.
func ceilSeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}

// describeWindow writes a window for people: "minute", "10 seconds", "hour".
func describeWindow(w time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}} {
		if w%u.d == 0 {
			if w == u.d {
				return u.name
			}
			return plural(int(w/u.d), u.name)
		}
	}
	if w == time.Second {
		return "second"
	}
	return plural(int(w/time.Second), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
