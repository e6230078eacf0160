package logship

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// Axiom sends NDJSON to POST {URL}/v1/datasets/{Dataset}/ingest with a
// bearer token. Each line keeps its fields as they were written
// (request_id, job_id, step, trace_id, ...), with _time and stage added.
type Axiom struct {
	URL, Dataset, Token string
	Client              *http.Client
}

// Name implements Destination.
func (a Axiom) Name() string { return "axiom" }

// Send implements Destination.
func (a Axiom) Send(ctx context.Context, stage string, lines []Line) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, l := range lines {
		fields := make(map[string]any, len(l.Fields)+3)
		for k, v := range l.Fields {
			fields[k] = v
		}
		if len(l.Fields) == 0 {
			fields["msg"] = l.Raw
		}
		fields["_time"] = l.Time.Format(time.RFC3339Nano)
		fields["stage"] = stage
		fields["function"] = l.Function
		if err := enc.Encode(fields); err != nil {
			return fmt.Errorf("encode line for axiom: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/v1/datasets/"+url.PathEscape(a.Dataset)+"/ingest", &body)
	if err != nil {
		return fmt.Errorf("axiom request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+a.Token)
	return post(ctx, a.Client, req)
}

// Loki sends to POST {URL}/loki/api/v1/push, as snappy-compressed protobuf
// (logproto.PushRequest, Format "protobuf") or JSON. The labels are stage,
// function and level only, so the number of streams stays small; the ids
// stay in the line.
type Loki struct {
	URL, User, Token string
	Format           string // protobuf (default) or json
	Client           *http.Client
}

// Name implements Destination.
func (l Loki) Name() string { return "loki" }

// stream is the lines of one label set, oldest first.
type stream struct {
	labels map[string]string
	lines  []Line
}

func group(stage string, lines []Line) []stream {
	byKey := map[string]*stream{}
	var keys []string
	for _, ln := range lines {
		labels := map[string]string{"stage": stage, "function": ln.Function, "level": ln.Level}
		key := labelString(labels)
		s, ok := byKey[key]
		if !ok {
			s = &stream{labels: labels}
			byKey[key] = s
			keys = append(keys, key)
		}
		s.lines = append(s.lines, ln)
	}
	sort.Strings(keys)
	out := make([]stream, 0, len(keys))
	for _, k := range keys {
		s := byKey[k]
		slices.SortStableFunc(s.lines, func(a, b Line) int { return a.Time.Compare(b.Time) })
		out = append(out, *s)
	}
	return out
}

// labelString is Prometheus's label syntax, {a="x", b="y"}, sorted.
func labelString(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + strconv.Quote(labels[n])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Send implements Destination.
func (l Loki) Send(ctx context.Context, stage string, lines []Line) error {
	streams := group(stage, lines)
	var body []byte
	ctype := "application/x-protobuf"
	if l.Format == "json" {
		type jsonStream struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		}
		push := struct {
			Streams []jsonStream `json:"streams"`
		}{}
		for _, s := range streams {
			js := jsonStream{Stream: s.labels}
			for _, ln := range s.lines {
				js.Values = append(js.Values, [2]string{strconv.FormatInt(ln.Time.UnixNano(), 10), ln.Raw})
			}
			push.Streams = append(push.Streams, js)
		}
		var err error
		if body, err = json.Marshal(push); err != nil {
			return fmt.Errorf("encode loki push: %w", err)
		}
		ctype = "application/json"
	} else {
		body = snappy.Encode(nil, pushRequest(streams))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL+"/loki/api/v1/push", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("loki request: %w", err)
	}
	req.Header.Set("Content-Type", ctype)
	switch {
	case l.User != "":
		req.SetBasicAuth(l.User, l.Token)
	case l.Token != "":
		req.Header.Set("Authorization", "Bearer "+l.Token)
	}
	return post(ctx, l.Client, req)
}

// pushRequest encodes logproto.PushRequest:
//
//	message PushRequest { repeated StreamAdapter streams = 1; }
//	message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }
//	message EntryAdapter { google.protobuf.Timestamp timestamp = 1; string line = 2; }
//	message Timestamp { int64 seconds = 1; int32 nanos = 2; }
func pushRequest(streams []stream) []byte {
	var out []byte
	for _, s := range streams {
		var sb []byte
		sb = protowire.AppendTag(sb, 1, protowire.BytesType)
		sb = protowire.AppendString(sb, labelString(s.labels))
		for _, ln := range s.lines {
			var ts []byte
			ts = protowire.AppendTag(ts, 1, protowire.VarintType)
			ts = protowire.AppendVarint(ts, uint64(ln.Time.Unix())) //nolint:gosec // two's complement, as protobuf's int64
			if n := ln.Time.Nanosecond(); n != 0 {
				ts = protowire.AppendTag(ts, 2, protowire.VarintType)
				ts = protowire.AppendVarint(ts, uint64(n)) //nolint:gosec // 0-999999999
			}
			var eb []byte
			eb = protowire.AppendTag(eb, 1, protowire.BytesType)
			eb = protowire.AppendBytes(eb, ts)
			eb = protowire.AppendTag(eb, 2, protowire.BytesType)
			eb = protowire.AppendString(eb, ln.Raw)
			sb = protowire.AppendTag(sb, 2, protowire.BytesType)
			sb = protowire.AppendBytes(sb, eb)
		}
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, sb)
	}
	return out
}
