package obs

import (
	"cmp"
	"context"
	"slices"
)

// Keys of the correlation ids carried in a context. They are the JSON keys of
// log lines and the Sentry tag names.
const (
	RequestID = "request_id" // API Gateway request id, or the Lambda request id
	JobID     = "job_id"     // the job a worker is processing
	Step      = "step"       // the pipeline step, e.g. "transcribe"
	TraceID   = "trace_id"   // X-Ray trace id
	Function  = "function"   // the Lambda function name
)

// ctxKey is the context key of the ids.
type ctxKey struct{}

// field is one id.
type field struct{ key, value string }

// ids returns the ids in ctx, sorted by key. The slice is shared: never
// modify it.
func ids(ctx context.Context) []field {
	fs, _ := ctx.Value(ctxKey{}).([]field)
	return fs
}

// With returns a copy of ctx whose ids include key set to value, replacing an
// earlier value of the same key. An empty value removes the key; an empty key
// returns ctx unchanged. The ids of ctx itself are never modified.
func With(ctx context.Context, key, value string) context.Context {
	if key == "" {
		return ctx
	}
	old := ids(ctx)
	next := make([]field, 0, len(old)+1)
	for _, f := range old {
		if f.key != key {
			next = append(next, f)
		}
	}
	if value != "" {
		next = append(next, field{key, value})
		slices.SortFunc(next, func(a, b field) int { return cmp.Compare(a.key, b.key) })
	}
	return context.WithValue(ctx, ctxKey{}, next)
}

// Fields returns the ids in ctx as a new map, which the caller may modify. It
// returns an empty, non-nil map when ctx carries none.
func Fields(ctx context.Context) map[string]string {
	fs := ids(ctx)
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		m[f.key] = f.value
	}
	return m
}
