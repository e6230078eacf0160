package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/redub/redub/local/invoke"
)

// Route is one destination of a bucket's notification configuration: events
// of Bucket whose type matches Events and whose key starts with Prefix and
// ends with Suffix go to the queue, to the function, or to both.
type Route struct {
	// ID is the route's s3.configurationId; when empty a stable id is
	// derived from the other fields.
	ID     string
	Bucket string
	// Events are S3 event types such as "s3:ObjectCreated:*" or
	// "s3:ObjectRemoved:Delete". A route without events gets nothing.
	Events []string
	// Prefix and Suffix match the raw (decoded) key, case-sensitively.
	Prefix, Suffix string

	// QueueURL receives each event as S3 sends it to SQS: one SendMessage
	// per record with the body {"Records":[record]}. QueueARN is only used
	// in logs.
	QueueURL, QueueARN string
	// Function is a template logical id; it is invoked asynchronously with
	// the event, as S3 invokes a Lambda function.
	Function string
}

// Sender is the part of the SQS client the relay uses.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// ObjectHeader is the part of the S3 client the relay uses to read the size
// of objects whose versitygw events carry none.
type ObjectHeader interface {
	HeadObject(ctx context.Context, in *awss3.HeadObjectInput, optFns ...func(*awss3.Options)) (*awss3.HeadObjectOutput, error)
}

// RelayOptions configures a Relay.
type RelayOptions struct {
	// Region is written into awsRegion; when empty versitygw's is kept.
	Region string
	// Log receives delivery failures and dropped events; nil discards them.
	Log *slog.Logger
	// Objects, when set, is asked for the size and version of the object
	// of CompleteMultipartUpload and Copy events, which versitygw reports
	// as 0 bytes. Without it those events say size 0.
	Objects ObjectHeader
}

// Tuning of the delivery machinery.
const (
	pendingLimit   = 1024 // events waiting for a worker; more are dropped, never waited for
	workers        = 4    // goroutines routing events and sending to queues
	invokeLimit    = 32   // function invocations in flight
	sendAttempts   = 3    // SendMessage tries per event
	sendBackoff    = 100 * time.Millisecond
	invokeRetries  = 2               // Lambda retries a failed asynchronous invocation twice
	throttleBudget = 5 * time.Minute // how long throttled invocations are retried
	attemptTimeout = 10 * time.Second
	maxPostBytes   = 1 << 20
)

// Relay receives versitygw's webhook posts, turns each record into the event
// S3 would send, and delivers it to every matching route. It answers the
// webhook at once and delivers in the background, so a slow queue or
// function never holds versitygw up; when more than a thousand events wait,
// new ones are dropped and logged.
type Relay struct {
	routes  []route
	sender  Sender
	inv     invoke.Invoker
	objects ObjectHeader
	region  string
	log     *slog.Logger

	now           func() time.Time
	invokeBackoff time.Duration // delay before the first retry of a failed invocation; doubled for the second

	ctx    context.Context // ends when Close gives up waiting
	cancel context.CancelFunc

	mu       sync.RWMutex // guards closed and sends on pending
	closed   bool
	pending  chan events.S3EventRecord
	wg       sync.WaitGroup
	invSlots chan struct{}

	epoch     atomic.Int64  // Unix ms of the current versitygw run; see sequencer
	ownSeq    atomic.Uint64 // used when versitygw's sequencer cannot be read
	delivered atomic.Int64
	failed    atomic.Int64
}

type route struct {
	Route
	id string
}

// NewRelay returns a Relay delivering to routes through sender (queue
// routes) and inv (function routes); either may be nil when no route needs
// it. It starts background workers: call Close when done.
func NewRelay(routes []Route, sender Sender, inv invoke.Invoker, opts RelayOptions) *Relay {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		sender:        sender,
		inv:           inv,
		objects:       opts.Objects,
		region:        opts.Region,
		log:           log,
		now:           time.Now,
		invokeBackoff: time.Second,
		ctx:           ctx,
		cancel:        cancel,
		pending:       make(chan events.S3EventRecord, pendingLimit),
		invSlots:      make(chan struct{}, invokeLimit),
	}
	for _, rt := range routes {
		id := rt.ID
		if id == "" {
			id = routeID(rt)
		}
		switch {
		case len(rt.Events) == 0:
			log.Warn("s3 route has no events and gets nothing", "route", id, "bucket", rt.Bucket)
		case rt.QueueURL == "" && rt.Function == "":
			log.Warn("s3 route has no destination", "route", id, "bucket", rt.Bucket)
		case rt.QueueURL != "" && sender == nil, rt.Function != "" && inv == nil:
			log.Warn("s3 route's destination has no client; its events will fail", "route", id, "bucket", rt.Bucket)
		}
		r.routes = append(r.routes, route{Route: rt, id: id})
	}
	r.epoch.Store(r.now().UnixMilli())
	for range workers {
		r.wg.Go(r.work)
	}
	return r
}

// routeID derives a stable configuration id from what the route matches and
// where it delivers.
func routeID(rt Route) string {
	h := sha256.New()
	for _, s := range []string{rt.Bucket, strings.Join(rt.Events, ","), rt.Prefix, rt.Suffix, rt.QueueURL, rt.Function} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "redub-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Delivered returns how many events reached a queue or a function.
func (r *Relay) Delivered() int64 { return r.delivered.Load() }

// Failed returns how many deliveries were given up or dropped.
func (r *Relay) Failed() int64 { return r.failed.Load() }

// ServeHTTP takes one webhook post from versitygw: 204 once its records are
// queued for delivery, 400 when the body is not a versitygw event, 503 after
// Close.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxPostBytes))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var post vgwPost
	if err := json.Unmarshal(body, &post); err != nil {
		r.log.Warn("s3 relay: undecodable webhook post", "err", err)
		http.Error(w, "decode event: "+err.Error(), http.StatusBadRequest)
		return
	}
	now := r.now()
	if post.Event == testEventName {
		// versitygw posts it once as it starts, before any other event, and
		// its event counter starts again at 1: a new epoch keeps sequencers
		// increasing. S3 sends its test event only when a configuration is
		// saved, so it is not passed on.
		r.newEpoch(now)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		http.Error(w, "relay closed", http.StatusServiceUnavailable)
		return
	}
	for _, in := range post.Records {
		rec, seq, ok := normalize(in, r.region, now)
		if !ok {
			seq = r.ownSeq.Add(1)
		}
		rec.S3.Object.Sequencer = sequencer(r.epoch.Load(), seq)
		if rec.S3.Object.URLDecodedKey == "" {
			// versitygw takes the key from the URL path, and a browser POST
			// upload has none there.
			r.log.Warn("s3 relay: event without an object key dropped", "event", rec.EventName, "bucket", rec.S3.Bucket.Name)
			continue
		}
		select {
		case r.pending <- rec:
		default:
			r.failed.Add(1)
			r.log.Error("s3 relay: delivery queue full, event dropped",
				"event", rec.EventName, "bucket", rec.S3.Bucket.Name, "key", rec.S3.Object.URLDecodedKey)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *Relay) newEpoch(now time.Time) {
	ms := now.UnixMilli()
	for {
		old := r.epoch.Load()
		next := max(ms, old+1)
		if r.epoch.CompareAndSwap(old, next) {
			return
		}
	}
}

// Close stops taking posts and waits until the events already taken are
// delivered or given up. When ctx ends first it abandons them and returns
// ctx's error.
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.pending)
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		<-done
		return fmt.Errorf("close s3 relay: %w", ctx.Err())
	}
}

func (r *Relay) work() {
	for rec := range r.pending {
		r.route(rec)
	}
}

// route delivers one record to every matching route.
func (r *Relay) route(rec events.S3EventRecord) {
	var matched []route
	for _, rt := range r.routes {
		if rt.matches(rec) {
			matched = append(matched, rt)
		}
	}
	if len(matched) == 0 {
		return
	}
	r.fillObject(&rec)
	for _, rt := range matched {
		rec := rec // each route's copy carries its own configuration id
		rec.S3.ConfigurationID = rt.id
		body, err := marshalEvent(rec)
		if err != nil {
			r.fail(rec, rt, "encode", err)
			continue
		}
		if rt.QueueURL != "" {
			r.sendToQueue(rec, rt, body)
		}
		if rt.Function != "" {
			r.invSlots <- struct{}{}
			r.wg.Go(func() {
				defer func() { <-r.invSlots }()
				r.invokeFunction(rec, rt, body)
			})
		}
	}
}

func (rt route) matches(rec events.S3EventRecord) bool {
	key := rec.S3.Object.URLDecodedKey
	return (rt.Bucket == "" || rt.Bucket == rec.S3.Bucket.Name) &&
		matchesEvent(rt.Events, rec.EventName) &&
		strings.HasPrefix(key, rt.Prefix) && strings.HasSuffix(key, rt.Suffix)
}

// fillObject reads the size (and version) of objects that versitygw
// reports as 0 bytes: the targets of CompleteMultipartUpload and Copy.
func (r *Relay) fillObject(rec *events.S3EventRecord) {
	if r.objects == nil || rec.S3.Object.Size != 0 ||
		(rec.EventName != "ObjectCreated:CompleteMultipartUpload" && rec.EventName != "ObjectCreated:Copy") {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, attemptTimeout)
	defer cancel()
	bucket, key := rec.S3.Bucket.Name, rec.S3.Object.URLDecodedKey
	out, err := r.objects.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		// Deleted or replaced since: the event goes out with what we have.
		r.log.Warn("s3 relay: read object size", "bucket", bucket, "key", key, "err", err)
		return
	}
	if out.ContentLength != nil {
		rec.S3.Object.Size = *out.ContentLength
	}
	if rec.S3.Object.VersionID == "" && out.VersionId != nil {
		rec.S3.Object.VersionID = versionID(*out.VersionId)
	}
}

func (r *Relay) sendToQueue(rec events.S3EventRecord, rt route, body []byte) {
	if r.sender == nil {
		r.fail(rec, rt, "send to queue", errors.New("relay has no SQS client"))
		return
	}
	msg := string(body)
	var err error
	for attempt := range sendAttempts {
		if attempt > 0 && !r.sleep(sendBackoff<<(attempt-1)) {
			break
		}
		ctx, cancel := context.WithTimeout(r.ctx, attemptTimeout)
		_, err = r.sender.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &rt.QueueURL, MessageBody: &msg})
		cancel()
		if err == nil {
			r.delivered.Add(1)
			return
		}
	}
	r.fail(rec, rt, "send to queue", err)
}

// invokeFunction invokes like Lambda's asynchronous invocation: a failed
// invocation (error, timeout, crash) is retried twice, with a growing pause;
// a throttled one is retried for a few minutes without using up those
// retries; an unknown function is not retried.
func (r *Relay) invokeFunction(rec events.S3EventRecord, rt route, body []byte) {
	if r.inv == nil {
		r.fail(rec, rt, "invoke", errors.New("relay has no invoker"))
		return
	}
	retries, throttledSince, throttlePause := 0, time.Time{}, 100*time.Millisecond
	for {
		err := r.invokeOnce(rt.Function, body)
		switch {
		case err == nil:
			r.delivered.Add(1)
			return
		case errors.Is(err, invoke.ErrUnknownFunction):
			r.fail(rec, rt, "invoke", err)
			return
		case errors.Is(err, invoke.ErrThrottled):
			if throttledSince.IsZero() {
				throttledSince = r.now()
			}
			if r.now().Sub(throttledSince) > throttleBudget || !r.sleep(throttlePause) {
				r.fail(rec, rt, "invoke", err)
				return
			}
			throttlePause = min(2*throttlePause, 10*time.Second)
		default:
			if retries == invokeRetries || !r.sleep(r.invokeBackoff<<retries) {
				r.fail(rec, rt, "invoke", err)
				return
			}
			retries++
			r.log.Warn("s3 relay: invocation failed, retrying", "function", rt.Function,
				"key", rec.S3.Object.URLDecodedKey, "retry", retries, "err", err)
		}
	}
}

func (r *Relay) invokeOnce(function string, body []byte) error {
	res, err := r.inv.Invoke(r.ctx, function, body)
	if err != nil {
		return fmt.Errorf("invoke %s: %w", function, err)
	}
	if res.FunctionError != "" {
		return fmt.Errorf("invoke %s: function error %s: %s", function, res.FunctionError, res.Payload)
	}
	return nil
}

// sleep waits d; it reports false when the relay is shutting down instead.
func (r *Relay) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

func (r *Relay) fail(rec events.S3EventRecord, rt route, op string, err error) {
	r.failed.Add(1)
	target := rt.QueueARN
	if target == "" {
		target = rt.QueueURL
	}
	if op == "invoke" {
		target = rt.Function
	}
	r.log.Error("s3 relay: "+op+" failed, event lost", "route", rt.id, "target", target,
		"event", rec.EventName, "bucket", rec.S3.Bucket.Name, "key", rec.S3.Object.URLDecodedKey, "err", err)
}
