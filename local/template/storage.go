package template

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

type queueDoc struct {
	Properties struct {
		FifoQueue              *boolean
		VisibilityTimeout      *number
		MessageRetentionPeriod *number
		MaximumMessageSize     *number
		RedrivePolicy          json.RawMessage // an object, or the same as a JSON string
	}
}

type redrivePolicy struct {
	DeadLetterTargetArn *text   `json:"deadLetterTargetArn"`
	MaxReceiveCount     *number `json:"maxReceiveCount"`
}

func (p *parser) queue(id, name string) *Queue {
	var doc queueDoc
	if !p.decode(id, &doc) {
		return nil
	}
	props := doc.Properties
	q := &Queue{
		LogicalID:         id,
		Name:              name,
		FIFO:              props.FifoQueue.or(false),
		VisibilityTimeout: time.Duration(props.VisibilityTimeout.or(30)) * time.Second,
		Retention:         time.Duration(props.MessageRetentionPeriod.or(345600)) * time.Second,
		MaxMessageSize:    props.MaximumMessageSize.or(262144),
	}
	if q.FIFO && !strings.HasSuffix(q.Name, ".fifo") {
		p.errs.add(id, ErrInvalid, "QueueName %q of a FIFO queue must end in .fifo", q.Name)
	}
	if !q.FIFO && strings.HasSuffix(q.Name, ".fifo") {
		p.errs.add(id, ErrInvalid, "QueueName %q ends in .fifo but FifoQueue is not true", q.Name)
	}
	if v := q.VisibilityTimeout; v < 0 || v > 12*time.Hour {
		p.errs.add(id, ErrInvalid, "VisibilityTimeout %v is outside 0s to 12h", v)
	}
	if v := q.Retention; v < time.Minute || v > 14*24*time.Hour {
		p.errs.add(id, ErrInvalid, "MessageRetentionPeriod %v is outside 1m to 14 days", v)
	}
	if v := q.MaxMessageSize; v < 1024 || v > 1048576 {
		p.errs.add(id, ErrInvalid, "MaximumMessageSize %d is outside 1024 to 1048576", v)
	}
	p.redrive(q, props.RedrivePolicy)
	return q
}

func (p *parser) redrive(q *Queue, raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	var asString string
	if json.Unmarshal(raw, &asString) == nil {
		raw = json.RawMessage(asString)
	}
	var rp redrivePolicy
	if err := json.Unmarshal(raw, &rp); err != nil {
		p.errs.add(q.LogicalID, ErrInvalid, "RedrivePolicy: %v", err)
		return
	}
	if rp.DeadLetterTargetArn == nil {
		p.errs.add(q.LogicalID, ErrInvalid, "RedrivePolicy has no deadLetterTargetArn")
		return
	}
	arn := string(*rp.DeadLetterTargetArn)
	dlq, ok := p.queueByARN[arn]
	if !ok {
		p.errs.add(q.LogicalID, ErrNotInTemplate, "RedrivePolicy.deadLetterTargetArn: %s", p.queueTarget(arn))
		return
	}
	q.DeadLetter = dlq
	q.MaxReceiveCount = rp.MaxReceiveCount.or(0)
	if q.MaxReceiveCount < 1 || q.MaxReceiveCount > 1000 {
		p.errs.add(q.LogicalID, ErrInvalid, "RedrivePolicy.maxReceiveCount %d is outside 1 to 1000", q.MaxReceiveCount)
	}
}

// checkQueues checks what involves two queues.
func (p *parser) checkQueues(t *Template) {
	for _, id := range slices.Sorted(maps.Keys(t.Queues)) {
		q := t.Queues[id]
		if dlq := t.Queues[q.DeadLetter]; dlq != nil && dlq.FIFO != q.FIFO {
			p.errs.add(id, ErrInvalid, "dead-letter queue %s must be FIFO exactly when the queue is", dlq.LogicalID)
		}
	}
}

type bucketDoc struct {
	Properties struct {
		CorsConfiguration *struct {
			CorsRules []struct {
				AllowedOrigins, AllowedMethods, AllowedHeaders, ExposedHeaders texts
				MaxAge                                                         *number
			}
		}
		NotificationConfiguration *struct {
			QueueConfigurations []struct {
				Event  text
				Queue  text
				Filter *keyFilter
			}
			LambdaConfigurations []struct {
				Event    text
				Function text
				Filter   *keyFilter
			}
			TopicConfigurations      []json.RawMessage
			EventBridgeConfiguration *struct{ EventBridgeEnabled *boolean }
		}
	}
}

// keyFilter is the Filter of a notification or of a SAM S3 event.
type keyFilter struct {
	S3Key *struct {
		Rules []struct{ Name, Value text }
	}
}

func (p *parser) bucket(id, name string) *Bucket {
	var doc bucketDoc
	if !p.decode(id, &doc) {
		return nil
	}
	b := &Bucket{LogicalID: id, Name: name}
	if cc := doc.Properties.CorsConfiguration; cc != nil {
		for _, r := range cc.CorsRules {
			b.CORS = append(b.CORS, CORSRule{AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
				AllowedHeaders: r.AllowedHeaders, ExposedHeaders: r.ExposedHeaders, MaxAge: r.MaxAge.or(0)})
		}
	}
	nc := doc.Properties.NotificationConfiguration
	if nc == nil {
		return b
	}
	if len(nc.TopicConfigurations) > 0 {
		p.errs.add(id, ErrUnsupported, "NotificationConfiguration.TopicConfigurations (SNS)")
	}
	if nc.EventBridgeConfiguration != nil && nc.EventBridgeConfiguration.EventBridgeEnabled.or(false) {
		p.errs.add(id, ErrUnsupported, "NotificationConfiguration.EventBridgeConfiguration")
	}
	for i, c := range nc.QueueConfigurations {
		where := id + ".NotificationConfiguration.QueueConfigurations[" + strconv.Itoa(i) + "]"
		n := Notification{Events: []string{string(c.Event)}}
		if !p.notification(where, c.Filter, &n) {
			continue
		}
		q, ok := p.queueByARN[string(c.Queue)]
		if !ok {
			p.errs.add(where, ErrNotInTemplate, "Queue: %s", p.queueTarget(string(c.Queue)))
			continue
		}
		n.Queue = q
		b.Notifications = append(b.Notifications, n)
	}
	for i, c := range nc.LambdaConfigurations {
		where := id + ".NotificationConfiguration.LambdaConfigurations[" + strconv.Itoa(i) + "]"
		n := Notification{Events: []string{string(c.Event)}}
		if !p.notification(where, c.Filter, &n) {
			continue
		}
		f, ok := p.functionByTarget(string(c.Function))
		if !ok {
			p.errs.add(where, ErrNotInTemplate, "Function %q is not the ARN of a function in the template", c.Function)
			continue
		}
		n.Function = f
		b.Notifications = append(b.Notifications, n)
	}
	return b
}

// notification checks n's events and copies its key filter into it.
func (p *parser) notification(where string, f *keyFilter, n *Notification) bool {
	ok := p.checkS3Events(where, n.Events)
	var okFilter bool
	n.Prefix, n.Suffix, okFilter = p.keyFilter(where, f)
	return ok && okFilter
}

// keyFilter reads the prefix and suffix rules of a filter.
func (p *parser) keyFilter(where string, f *keyFilter) (prefix, suffix string, ok bool) {
	ok = true
	if f == nil || f.S3Key == nil {
		return "", "", ok
	}
	for _, rule := range f.S3Key.Rules {
		switch strings.ToLower(string(rule.Name)) {
		case "prefix":
			prefix = string(rule.Value)
		case "suffix":
			suffix = string(rule.Value)
		default:
			p.errs.add(where, ErrInvalid, "filter rule %q is neither prefix nor suffix", rule.Name)
			ok = false
		}
	}
	return prefix, suffix, ok
}

func (p *parser) checkS3Events(where string, events []string) bool {
	if len(events) == 0 {
		p.errs.add(where, ErrInvalid, "no events")
		return false
	}
	ok := true
	for _, e := range events {
		if !strings.HasPrefix(e, "s3:") || len(e) < 4 {
			p.errs.add(where, ErrInvalid, "event %q is not an S3 event type (s3:...)", e)
			ok = false
		}
	}
	return ok
}

// checkOverlaps rejects notifications S3 itself would reject: two on one
// bucket that share an event type on overlapping key filters, counting the
// notification SAM adds for each S3 event on a function.
func (p *parser) checkOverlaps(t *Template) {
	for _, id := range slices.Sorted(maps.Keys(t.Buckets)) {
		all := slices.Clone(t.Buckets[id].Notifications)
		for _, fn := range slices.Sorted(maps.Keys(t.Functions)) {
			for _, s := range t.Functions[fn].S3 {
				if s.Bucket == id {
					all = append(all, Notification{Events: s.Events, Prefix: s.Prefix, Suffix: s.Suffix, Function: fn})
				}
			}
		}
		for i, a := range all {
			for _, c := range all[i+1:] {
				if eventsOverlap(a.Events, c.Events) &&
					(strings.HasPrefix(a.Prefix, c.Prefix) || strings.HasPrefix(c.Prefix, a.Prefix)) &&
					(strings.HasSuffix(a.Suffix, c.Suffix) || strings.HasSuffix(c.Suffix, a.Suffix)) {
					p.errs.add(id, ErrInvalid, "notifications to %s and %s overlap (a shared event type on overlapping prefix and suffix); S3 rejects that",
						a.target(), c.target())
				}
			}
		}
	}
}

func (n Notification) target() string {
	if n.Queue != "" {
		return n.Queue
	}
	return n.Function
}

func eventsOverlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if eventCovers(x, y) || eventCovers(y, x) {
				return true
			}
		}
	}
	return false
}

// eventCovers reports whether the configured event type pattern covers
// event (both with or without the "s3:" prefix).
func eventCovers(pattern, event string) bool {
	pattern = strings.TrimPrefix(pattern, "s3:")
	event = strings.TrimPrefix(event, "s3:")
	if family, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(event, family)
	}
	return pattern == event
}

// Matches reports whether this notification fires for an event named like
// "ObjectCreated:Put" (an "s3:" prefix is accepted too) on the object key,
// which must be decoded (S3 event records carry keys URL-encoded). A
// configured "s3:ObjectCreated:*" matches every ObjectCreated event; prefix
// and suffix compare case-sensitively, as S3 does.
func (n Notification) Matches(eventName, key string) bool {
	return slices.ContainsFunc(n.Events, func(e string) bool { return eventCovers(e, eventName) }) &&
		strings.HasPrefix(key, n.Prefix) && strings.HasSuffix(key, n.Suffix)
}
