package template

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

type functionDoc struct {
	Properties struct {
		Handler                      *text
		Runtime                      *text
		Architectures                []text
		Timeout                      *number
		MemorySize                   *number
		ReservedConcurrentExecutions *number
		PackageType                  *text
		Environment                  struct {
			Variables map[string]*text // nil for AWS::NoValue
		}
		Events map[string]struct {
			Type       string
			Properties json.RawMessage
		}
	}
	Metadata struct {
		BuildMethod *text
	}
}

func (p *parser) function(id string, t *Template) *Function {
	// Apply Globals before decoding, as the SAM transform does.
	var res map[string]any
	if !p.decode(id, &res) {
		return nil
	}
	props, _ := res["Properties"].(map[string]any)
	if p.globals != nil {
		res["Properties"] = MergeGlobals(p.globals, props)
	}
	merged, err := json.Marshal(res)
	if err != nil {
		p.errs.add(id, ErrInvalid, "%v", err)
		return nil
	}
	var doc functionDoc
	if err := json.Unmarshal(merged, &doc); err != nil {
		p.errs.add(id, ErrInvalid, "%v", err)
		return nil
	}
	fp := doc.Properties

	f := &Function{
		LogicalID:   id,
		Dir:         "functions/" + folderOf(strings.TrimSuffix(id, "Function")),
		BuildMethod: doc.Metadata.BuildMethod.or(""),
		Handler:     fp.Handler.or(""),
		Runtime:     fp.Runtime.or(""),
		Timeout:     time.Duration(fp.Timeout.or(3)) * time.Second,
		MemoryMB:    fp.MemorySize.or(128),
		Env:         map[string]string{},
	}
	if !strings.HasSuffix(id, "Function") {
		p.errs.add(id, ErrInvalid, "a function's logical id must end in Function, for the Makefile's build-%%Function target")
	} else if back := logicalIDOf(strings.TrimPrefix(f.Dir, "functions/")); back != id {
		p.errs.add(id, ErrInvalid, "the Makefile builds folder %s as %s; name the function so the two agree", f.Dir, back)
	}
	switch len(fp.Architectures) {
	case 0:
		f.Architecture = "x86_64"
	case 1:
		f.Architecture = string(fp.Architectures[0])
		if f.Architecture != "x86_64" && f.Architecture != "arm64" {
			p.errs.add(id, ErrInvalid, "architecture %q is neither arm64 nor x86_64", f.Architecture)
		}
	default:
		p.errs.add(id, ErrInvalid, "Architectures %v: SAM appends the Globals list to the function's, so set Architectures in one place only", fp.Architectures)
	}
	if f.Timeout < time.Second || f.Timeout > 900*time.Second {
		p.errs.add(id, ErrInvalid, "Timeout %v is outside 1s to 900s", f.Timeout)
	}
	if f.MemoryMB < 128 || f.MemoryMB > 10240 {
		p.errs.add(id, ErrInvalid, "MemorySize %d is outside 128 to 10240", f.MemoryMB)
	}
	if rc := fp.ReservedConcurrentExecutions; rc != nil {
		switch {
		case *rc == 0:
			p.errs.add(id, ErrUnsupported, "ReservedConcurrentExecutions 0 (a disabled function)")
		case *rc < 0:
			p.errs.add(id, ErrInvalid, "ReservedConcurrentExecutions %d is negative", *rc)
		}
		f.ReservedConcurrency = int(*rc)
	}
	if pt := fp.PackageType.or("Zip"); pt != "Zip" {
		p.errs.add(id, ErrUnsupported, "PackageType %s: the local stack runs bootstrap binaries", pt)
	}
	for k, v := range fp.Environment.Variables {
		if v != nil {
			f.Env[k] = string(*v)
		}
	}

	for _, name := range slices.Sorted(maps.Keys(fp.Events)) {
		ev := fp.Events[name]
		where := id + ".Events." + name
		switch ev.Type {
		case "HttpApi":
			if r, ok := p.httpAPIEvent(where, id, ev.Properties); ok {
				f.Routes = append(f.Routes, r)
			}
		case "SQS":
			if s, ok := p.sqsEvent(where, f, name, ev.Properties, t); ok {
				f.SQS = append(f.SQS, s)
			}
		case "Schedule":
			if s, ok := p.scheduleEvent(where, id, name, ev.Properties); ok {
				f.Schedules = append(f.Schedules, s)
			}
		case "S3":
			if s, ok := p.s3Event(where, id, name, ev.Properties); ok {
				f.S3 = append(f.S3, s)
			}
		default:
			p.errs.add(where, ErrUnsupported, "event type %q", ev.Type)
		}
	}
	slices.SortFunc(f.Routes, compareRoutes)
	return f
}

// folderOf is the Makefile's folder_of: HealthReady -> health-ready, that is
// sed 's/([a-z0-9])([A-Z])/\1-\2/g' then lower case.
func folderOf(stem string) string {
	var b strings.Builder
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		if i+1 < len(stem) && isLowerOrDigit(c) && stem[i+1] >= 'A' && stem[i+1] <= 'Z' {
			b.WriteByte(c)
			b.WriteByte('-')
			b.WriteByte(stem[i+1])
			i++
			continue
		}
		b.WriteByte(c)
	}
	return strings.ToLower(b.String())
}

// logicalIDOf is the Makefile's logical_id: health-ready ->
// HealthReadyFunction, that is sed 's/(^|-)([a-z0-9])/\U\2/g' plus Function.
func logicalIDOf(folder string) string {
	var b strings.Builder
	for i := 0; i < len(folder); i++ {
		c := folder[i]
		atStart := i == 0 && isLowerOrDigit(c)
		afterDash := c == '-' && i+1 < len(folder) && isLowerOrDigit(folder[i+1])
		switch {
		case atStart:
			b.WriteString(strings.ToUpper(string(c)))
		case afterDash:
			b.WriteString(strings.ToUpper(string(folder[i+1])))
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String() + "Function"
}

func isLowerOrDigit(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// --- events -----------------------------------------------------------------

func decodeEvent(p *parser, where string, raw json.RawMessage, v any) bool {
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		p.errs.add(where, ErrInvalid, "%v", err)
		return false
	}
	return true
}

func (p *parser) httpAPIEvent(where, fn string, raw json.RawMessage) (Route, bool) {
	var e struct {
		Method, Path, PayloadFormatVersion *text
	}
	if !decodeEvent(p, where, raw, &e) {
		return Route{}, false
	}
	if v := e.PayloadFormatVersion.or("2.0"); v != "2.0" {
		p.errs.add(where, ErrUnsupported, "PayloadFormatVersion %s: the local gateway sends 2.0", v)
		return Route{}, false
	}
	method := strings.ToUpper(e.Method.or(""))
	path := e.Path.or("")
	switch {
	case method == "" && path == "":
		return Route{Function: fn, Method: "ANY", Path: DefaultRoute}, true
	case method == "" || path == "":
		p.errs.add(where, ErrInvalid, "set both Method and Path, or neither for the $default route")
		return Route{}, false
	case method == "X-AMAZON-APIGATEWAY-ANY-METHOD" || method == "*":
		method = "ANY"
	}
	if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}, method) {
		p.errs.add(where, ErrInvalid, "Method %q", method)
		return Route{}, false
	}
	if err := checkPath(path); err != nil {
		p.errs.add(where, ErrInvalid, "Path %q: %v", path, err)
		return Route{}, false
	}
	return Route{Function: fn, Method: method, Path: path}, true
}

type sqsEvent struct {
	Queue                          *text
	BatchSize                      *number
	MaximumBatchingWindowInSeconds *number
	FunctionResponseTypes          []text
	ScalingConfig                  *struct{ MaximumConcurrency *number }
	Enabled                        *boolean
	FilterCriteria                 json.RawMessage
}

func (p *parser) sqsEvent(where string, f *Function, name string, raw json.RawMessage, t *Template) (SQSSource, bool) {
	var e sqsEvent
	if !decodeEvent(p, where, raw, &e) {
		return SQSSource{}, false
	}
	arn := e.Queue.or("")
	qid, found := p.queueByARN[arn]
	if !found {
		p.errs.add(where, ErrNotInTemplate, "Queue: %s", p.queueTarget(arn))
		return SQSSource{}, false
	}
	s := SQSSource{
		Function:          f.LogicalID,
		Event:             name,
		Queue:             qid,
		BatchSize:         e.BatchSize.or(10),
		MaxBatchingWindow: time.Duration(e.MaximumBatchingWindowInSeconds.or(0)) * time.Second,
		Enabled:           e.Enabled.or(true),
	}
	if e.ScalingConfig != nil {
		s.MaxConcurrency = e.ScalingConfig.MaximumConcurrency.or(0)
	}
	ok := true
	bad := func(format string, args ...any) {
		p.errs.add(where, ErrInvalid, format, args...)
		ok = false
	}
	for _, rt := range e.FunctionResponseTypes {
		if rt != "ReportBatchItemFailures" {
			bad("FunctionResponseTypes: %q", rt)
			continue
		}
		s.ReportBatchItemFailures = true
	}
	if len(e.FilterCriteria) > 0 && string(e.FilterCriteria) != "null" {
		p.errs.add(where, ErrUnsupported, "FilterCriteria")
		ok = false
	}
	q := t.Queues[qid]
	maxBatch := 10000
	if q != nil && q.FIFO {
		maxBatch = 10
	}
	if s.BatchSize < 1 || s.BatchSize > maxBatch {
		bad("BatchSize %d is outside 1 to %d", s.BatchSize, maxBatch)
	}
	if w := s.MaxBatchingWindow; w < 0 || w > 300*time.Second {
		bad("MaximumBatchingWindowInSeconds %v is outside 0 to 300s", w)
	}
	if s.BatchSize > 10 && s.MaxBatchingWindow < time.Second {
		bad("BatchSize %d over 10 needs MaximumBatchingWindowInSeconds of at least 1", s.BatchSize)
	}
	if e.ScalingConfig != nil && (s.MaxConcurrency < 2 || s.MaxConcurrency > 1000) {
		bad("ScalingConfig.MaximumConcurrency %d is outside 2 to 1000", s.MaxConcurrency)
	}
	if q != nil && q.VisibilityTimeout < f.Timeout {
		bad("queue %s has VisibilityTimeout %v, less than the function's Timeout %v; Lambda refuses the mapping", qid, q.VisibilityTimeout, f.Timeout)
	}
	return s, ok
}

func (p *parser) scheduleEvent(where, fn, name string, raw json.RawMessage) (Schedule, bool) {
	var e struct {
		Schedule *text
		Enabled  *boolean
		State    *text
		Input    *text
	}
	if !decodeEvent(p, where, raw, &e) {
		return Schedule{}, false
	}
	s := Schedule{
		Name:       fn + "." + name,
		Function:   fn,
		Expression: e.Schedule.or(""),
		Enabled:    e.Enabled.or(true),
		Input:      e.Input.or(""),
	}
	ok := true
	switch e.State.or("") {
	case "":
	case "ENABLED":
		s.Enabled = true
	case "DISABLED":
		s.Enabled = false
	default:
		p.errs.add(where, ErrInvalid, "State %q is neither ENABLED nor DISABLED", e.State.or(""))
		ok = false
	}
	if _, err := parseSchedule(s.Expression); err != nil {
		p.errs.addErr(where, err)
		ok = false
	}
	if s.Input != "" && !json.Valid([]byte(s.Input)) {
		p.errs.add(where, ErrInvalid, "Input is not JSON")
		ok = false
	}
	return s, ok
}

func (p *parser) s3Event(where, fn, name string, raw json.RawMessage) (S3Source, bool) {
	var e struct {
		Bucket *text
		Events texts
		Filter *keyFilter
	}
	if !decodeEvent(p, where, raw, &e) {
		return S3Source{}, false
	}
	bucket, found := p.bucketByName[e.Bucket.or("")]
	if !found {
		p.errs.add(where, ErrNotInTemplate, "Bucket %q is not a bucket in the template (SAM needs !Ref to one)", e.Bucket.or(""))
		return S3Source{}, false
	}
	s := S3Source{Function: fn, Event: name, Bucket: bucket, Events: e.Events}
	ok := p.checkS3Events(where, s.Events)
	var okFilter bool
	s.Prefix, s.Suffix, okFilter = p.keyFilter(where, e.Filter)
	return s, ok && okFilter
}

// routes gathers every function's routes and rejects duplicates, which API
// Gateway would refuse.
func (p *parser) routes(t *Template) []Route {
	var all []Route
	seen := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(t.Functions)) {
		for _, r := range t.Functions[id].Routes {
			key := r.Method + " " + r.Path
			if r.Path == DefaultRoute {
				key = DefaultRoute
			}
			if other, dup := seen[key]; dup {
				p.errs.add(id, ErrInvalid, "route %s is also %s's", key, other)
				continue
			}
			seen[key] = id
			all = append(all, r)
		}
	}
	slices.SortFunc(all, compareRoutes)
	return all
}

func compareRoutes(a, b Route) int {
	return cmp.Or(
		compareBool(a.Path == DefaultRoute, b.Path == DefaultRoute),
		cmp.Compare(a.Path, b.Path),
		cmp.Compare(a.Method, b.Method),
	)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Folder is the Makefile's folder_of for a function's logical id:
// HealthReadyFunction builds from functions/health-ready.
func Folder(logicalID string) string { return folderOf(strings.TrimSuffix(logicalID, "Function")) }

// LogicalID is the Makefile's logical_id for a function folder:
// health-ready is HealthReadyFunction.
func LogicalID(folder string) string { return logicalIDOf(folder) }
