package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/obs"
)

// ProblemType is the base of problem type URIs: ProblemType + code.
const ProblemType = "https://redub.dev/problems/"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// statuses is the one table from error codes to HTTP statuses.
var statuses = map[apperr.Code]int{
	apperr.Invalid:          http.StatusBadRequest,
	apperr.Unauthenticated:  http.StatusUnauthorized,
	apperr.Forbidden:        http.StatusForbidden,
	apperr.NotFound:         http.StatusNotFound,
	apperr.MethodNotAllowed: http.StatusMethodNotAllowed,
	apperr.Conflict:         http.StatusConflict,
	apperr.TooLarge:         http.StatusRequestEntityTooLarge,
	apperr.UnsupportedMedia: http.StatusUnsupportedMediaType,
	apperr.Unprocessable:    http.StatusUnprocessableEntity,
	apperr.RateLimited:      http.StatusTooManyRequests,
	apperr.Unavailable:      http.StatusServiceUnavailable,
	apperr.Internal:         http.StatusInternalServerError,
}

// Status returns the HTTP status for an error code (500 for unknown codes).
func Status(code apperr.Code) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ProblemFor builds the problem a caller sees for err. Internal errors get a
// generic detail; only *apperr.Error messages are shown.
func ProblemFor(ctx context.Context, err error) Problem {
	code := apperr.CodeOf(err)
	status := Status(code)
	p := Problem{
		Type:      ProblemType + string(code),
		Title:     http.StatusText(status),
		Status:    status,
		Code:      string(code),
		RequestID: obs.Fields(ctx)[obs.RequestID],
	}
	if e, ok := apperr.As(err); ok && code != apperr.Internal {
		p.Detail = e.Message
		p.Field = e.Field
	} else {
		p.Detail = "An internal error occurred. It has been reported; quote the request id when asking about it."
	}
	return p
}

// Error writes err as problem+json. A 5xx error is also recorded in the
// request's error slot (see WithErrorSlot) so the adapter logs and reports it.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	p := ProblemFor(r.Context(), err)
	p.Instance = r.URL.Path
	if p.Status >= 500 {
		if s, ok := r.Context().Value(errorSlotKey{}).(*ErrorSlot); ok {
			s.Err = err
		}
	}
	WriteProblem(w, p)
}

// WriteProblem writes p with the problem+json content type.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", strconv.Itoa(5))
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// ErrorSlot receives the error behind a 5xx answer, for logging and Sentry.
type ErrorSlot struct{ Err error }

type errorSlotKey struct{}

// WithErrorSlot returns a context whose 5xx errors land in the returned slot.
func WithErrorSlot(ctx context.Context) (context.Context, *ErrorSlot) {
	s := &ErrorSlot{}
	return context.WithValue(ctx, errorSlotKey{}, s), s
}

// NotFoundHandler answers every request with a 404 problem.
func NotFoundHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, apperr.New(apperr.NotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
}
