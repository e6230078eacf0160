package obs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// NewLogger returns a logger that writes JSON lines to w, dropping records
// below level. Records logged with a context (InfoContext, ErrorContext,
// LogAttrs, ...) also carry the context's ids as top-level keys; see the
// package documentation.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(&idHandler{head: h, full: h})
}

// ParseLevel maps a LOG_LEVEL value to a slog level: "debug", "info", "warn"
// or "error" in any case, and "" for info. Any other value is an error that
// quotes it.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("obs: unknown log level %q: want debug, info, warn or error", s)
}

// idHandler adds the ids of the context to each record.
//
// The ids must be top-level keys, but once WithGroup has been called every
// attribute added to the wrapped handler lands in the group. So idHandler
// keeps head, the wrapped handler with the attributes given before the first
// group, and tail, the WithGroup and WithAttrs calls from the first group on.
// A record with ids is written by head + ids + tail, rebuilt per record; one
// without ids, or from a logger with no groups, takes the cheap path.
type idHandler struct {
	head slog.Handler // wrapped handler, attributes before the first group applied
	tail []handlerOp  // calls made from the first group on; replayed on head per record
	full slog.Handler // head with tail applied
}

// handlerOp is a WithGroup call (group != "") or a WithAttrs call.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

func (h *idHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.head.Enabled(ctx, level)
}

func (h *idHandler) Handle(ctx context.Context, r slog.Record) error {
	fs := ids(ctx)
	if len(fs) == 0 {
		return h.full.Handle(ctx, r)
	}
	attrs := make([]slog.Attr, len(fs))
	for i, f := range fs {
		attrs[i] = slog.String(f.key, f.value)
	}
	if len(h.tail) == 0 {
		r.AddAttrs(attrs...)
		return h.head.Handle(ctx, r)
	}
	out := h.head.WithAttrs(attrs)
	for _, op := range h.tail {
		if op.group != "" {
			out = out.WithGroup(op.group)
		} else {
			out = out.WithAttrs(op.attrs)
		}
	}
	return out.Handle(ctx, r)
}

func (h *idHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.tail) == 0 {
		next := h.head.WithAttrs(attrs)
		return &idHandler{head: next, full: next}
	}
	return &idHandler{
		head: h.head,
		tail: append(slices.Clip(h.tail), handlerOp{attrs: attrs}),
		full: h.full.WithAttrs(attrs),
	}
}

func (h *idHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &idHandler{
		head: h.head,
		tail: append(slices.Clip(h.tail), handlerOp{group: name}),
		full: h.full.WithGroup(name),
	}
}
