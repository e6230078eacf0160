package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxLine is the longest log line read; longer ones are skipped whole.
const maxLine = 1 << 20

// ReadLogs returns the log lines in r that belong to the job (its job_id is
// jobID, or its trace_id is traceID when that is not empty) as events, in the
// order read. It returns an error only when r fails.
func ReadLogs(r io.Reader, jobID, traceID string) ([]Event, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var events []Event
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			if e, ok := parseLine(line, jobID, traceID); ok {
				events = append(events, e)
			}
		}
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, fmt.Errorf("read logs: %w", err)
		}
	}
}

// readLine reads one line without its newline; a line over maxLine comes
// back empty.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, isPrefix, err := br.ReadLine()
		if len(line)+len(part) <= maxLine {
			line = append(line, part...)
		} else {
			line = line[:0:0]
		}
		if err != nil || !isPrefix {
			return line, err
		}
	}
}

// parseLine reads one line: an optional "Source | " prefix (the local stack's
// merged output), then a JSON object, possibly a CloudWatch event wrapping
// the function's line in "message" or "@message".
func parseLine(line []byte, jobID, traceID string) (Event, bool) {
	source := "log"
	i := bytes.IndexByte(line, '{')
	if i < 0 {
		return Event{}, false
	}
	if prefix := strings.TrimSpace(string(line[:i])); strings.HasSuffix(prefix, "|") {
		source = strings.TrimSpace(strings.TrimSuffix(prefix, "|"))
	}
	var obj map[string]any
	if json.Unmarshal(line[i:], &obj) != nil {
		return Event{}, false
	}
	outer := obj
	for _, k := range []string{"message", "@message"} {
		if s, ok := obj[k].(string); ok && strings.HasPrefix(strings.TrimSpace(s), "{") {
			var inner map[string]any
			if json.Unmarshal([]byte(strings.TrimSpace(s)), &inner) == nil {
				obj = inner
				if name, ok := outer["logStreamName"].(string); ok && source == "log" {
					source = name
				}
				break
			}
		}
	}
	if !belongs(obj, jobID, traceID) {
		return Event{}, false
	}
	at, ok := timeOf(obj)
	if !ok {
		if at, ok = timeOf(outer); !ok {
			return Event{}, false
		}
	}
	if fn, ok := obj["function"].(string); ok && source == "log" {
		source = fn
	}
	e := Event{At: at, Source: source, What: describe(obj)}
	e.Step, _ = obj["step"].(string)
	if n, ok := obj["attempt"].(float64); ok && n > 0 {
		e.Attempt = int(n)
	}
	if msg, ok := obj["error"].(string); ok {
		e.Error = msg
	}
	return e, true
}

func belongs(obj map[string]any, jobID, traceID string) bool {
	if id, ok := obj["job_id"].(string); ok && strings.EqualFold(id, jobID) {
		return true
	}
	id, ok := obj["trace_id"].(string)
	return ok && traceID != "" && id == traceID
}

// timeOf reads a record's time: slog's "time", or CloudWatch's "timestamp"
// (milliseconds since the epoch) or "@timestamp".
func timeOf(obj map[string]any) (time.Time, bool) {
	for _, k := range []string{"time", "@timestamp", "timestamp"} {
		switch v := obj[k].(type) {
		case string:
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.000", "2006-01-02 15:04:05"} {
				if t, err := time.Parse(layout, v); err == nil {
					return t.UTC(), true
				}
			}
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				return time.UnixMilli(ms).UTC(), true
			}
		case float64:
			return time.UnixMilli(int64(v)).UTC(), true
		}
	}
	return time.Time{}, false
}

// shownElsewhere reports the keys that have a column of their own, or are
// the same on every line of the job.
func shownElsewhere(key string) bool {
	switch key {
	case "time", "level", "msg", "job_id", "trace_id", "step", "attempt", "error", "function", "request_id", "timestamp", "@timestamp":
		return true
	}
	return false
}

// describe renders a record as "LEVEL msg key=value ...", keys sorted.
func describe(obj map[string]any) string {
	var b strings.Builder
	if level, ok := obj["level"].(string); ok {
		b.WriteString(level)
		b.WriteByte(' ')
	}
	msg, _ := obj["msg"].(string)
	b.WriteString(msg)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if !shownElsewhere(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		var s string
		switch x := v.(type) {
		case string:
			s = x
			if strings.ContainsAny(s, " \t\"=") {
				s = strconv.Quote(s)
			}
		default:
			raw, _ := json.Marshal(x)
			s = string(raw)
		}
		fmt.Fprintf(&b, " %s=%s", k, s)
	}
	return b.String()
}
