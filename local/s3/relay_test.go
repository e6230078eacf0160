package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/invoke"
)

const testQueue = "http://127.0.0.1:9324/000000000000/uploads"

// newTestRelay returns a relay that is closed when the test ends, with
// short retry pauses.
func newTestRelay(t *testing.T, routes []Route, sender Sender, inv invoke.Invoker) *Relay {
	t.Helper()
	r := NewRelay(routes, sender, inv, RelayOptions{Region: "us-east-1"})
	r.invokeBackoff = time.Millisecond
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, r.Close(ctx))
	})
	return r
}

// post sends body to the relay as versitygw does and returns the status.
func post(t *testing.T, r *Relay, body []byte) int {
	t.Helper()
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/s3-events", bytes.NewReader(body)))
	return w.Code
}

// vgwPayload builds a versitygw post holding one record per key.
func vgwPayload(t *testing.T, eventName string, keys ...string) []byte {
	t.Helper()
	var p struct {
		Records []map[string]any `json:"Records"`
	}
	require.NoError(t, json.Unmarshal(readFile(t, "versitygw-put.json"), &p))
	rec := p.Records[0]
	p.Records = nil
	for i, key := range keys {
		var r map[string]any
		b, _ := json.Marshal(rec)
		require.NoError(t, json.Unmarshal(b, &r))
		r["eventName"] = eventName
		obj := r["s3"].(map[string]any)["object"].(map[string]any)
		obj["key"] = key
		obj["sequencer"] = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "A"}[i%10]
		p.Records = append(p.Records, r)
	}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	return b
}

func TestRelayOneMessagePerRecord(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{}
	r := newTestRelay(t, []Route{{Bucket: "media", Events: []string{"s3:ObjectCreated:*"}, QueueURL: testQueue}}, sender, nil)

	require.Equal(t, http.StatusNoContent, post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "a b.mp4", "c/d.mp4", "é.mp4")))
	eventually(t, "three deliveries", func() bool { return r.Delivered() == 3 })

	var keys []string
	for _, ev := range sender.to(t, testQueue) {
		require.Len(t, ev.Records, 1)
		keys = append(keys, ev.Records[0].S3.Object.Key)
	}
	require.ElementsMatch(t, []string{"a+b.mp4", "c/d.mp4", "%C3%A9.mp4"}, keys)
}

func TestRelayRoutesByBucketEventPrefixAndSuffix(t *testing.T) {
	t.Parallel()
	sender, inv := &fakeSender{}, &fakeInvoker{}
	r := newTestRelay(t, []Route{
		{ID: "videos", Bucket: "media", Events: []string{"s3:ObjectCreated:*"}, Prefix: "uploads/", Suffix: ".mp4", QueueURL: "q-videos"},
		{ID: "all-created", Bucket: "media", Events: []string{"s3:ObjectCreated:Put"}, QueueURL: "q-all"},
		{ID: "removed", Bucket: "media", Events: []string{"s3:ObjectRemoved:*"}, Function: "CleanupFunction"},
		{ID: "other-bucket", Bucket: "other", Events: []string{"s3:ObjectCreated:*"}, QueueURL: "q-other"},
	}, sender, inv)

	post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "uploads/x.mp4", "uploads/x.MP4", "Uploads/x.mp4", "outside/x.mp4"))
	post(t, r, vgwPayload(t, "s3:ObjectRemoved:DeleteObjects", "uploads/x.mp4"))
	eventually(t, "all deliveries", func() bool { return r.Delivered() == 6 })

	keysOf := func(queue string) []string {
		var keys []string
		for _, ev := range sender.to(t, queue) {
			keys = append(keys, ev.Records[0].S3.Object.URLDecodedKey)
			require.Equal(t, map[string]string{"q-videos": "videos", "q-all": "all-created"}[queue], ev.Records[0].S3.ConfigurationID)
		}
		return keys
	}
	require.Equal(t, []string{"uploads/x.mp4"}, keysOf("q-videos"))
	require.ElementsMatch(t, []string{"uploads/x.mp4", "uploads/x.MP4", "Uploads/x.mp4", "outside/x.mp4"}, keysOf("q-all"))
	require.Empty(t, keysOf("q-other"))

	calls := inv.invocations()
	require.Len(t, calls, 1)
	require.Equal(t, "CleanupFunction", calls[0].Function)
	ev := decodeEvent(t, calls[0].Payload)
	require.Equal(t, "ObjectRemoved:Delete", ev.Records[0].EventName)
	require.Equal(t, "removed", ev.Records[0].S3.ConfigurationID)
}

func TestRelayDerivesStableConfigurationIDs(t *testing.T) {
	t.Parallel()
	a := Route{Bucket: "media", Events: []string{"s3:ObjectCreated:*"}, Prefix: "uploads/", QueueURL: "q"}
	b := a
	b.Prefix = "other/"
	require.Equal(t, routeID(a), routeID(a))
	require.NotEqual(t, routeID(a), routeID(b))
	require.Regexp(t, `^redub-[0-9a-f]{16}$`, routeID(a))
}

func TestRelayIgnoresTestEvent(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{}
	r := newTestRelay(t, []Route{{Bucket: "media", Events: []string{"s3:ObjectCreated:*"}, QueueURL: testQueue}}, sender, nil)
	before := r.epoch.Load()

	body := `{"Bucket":"Test-Bucket","Event":"s3:TestEvent","Service":"S3","Time":"2026-11-25T17:53:12Z"}`
	require.Equal(t, http.StatusNoContent, post(t, r, []byte(body)))
	require.Greater(t, r.epoch.Load(), before, "a versitygw start begins a new sequencer epoch")

	post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "k"))
	eventually(t, "one delivery", func() bool { return r.Delivered() == 1 })
	require.Len(t, sender.messages(), 1)
}

func TestRelayRejectsBadPosts(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t, nil, &fakeSender{}, nil)
	require.Equal(t, http.StatusBadRequest, post(t, r, []byte("not json")))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/s3-events", http.NoBody))
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
}

func TestRelayRetriesQueueSends(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{failures: 2}
	r := newTestRelay(t, []Route{{Bucket: "media", Events: []string{"s3:ObjectCreated:*"}, QueueURL: testQueue}}, sender, nil)
	post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "k"))
	eventually(t, "delivered on the third try", func() bool { return r.Delivered() == 1 })
	require.Equal(t, int64(0), r.Failed())

	sender.mu.Lock()
	sender.failures, sender.calls = 100, 0
	sender.mu.Unlock()
	post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "k2"))
	eventually(t, "given up", func() bool { return r.Failed() == 1 })
	sender.mu.Lock()
	require.Equal(t, sendAttempts, sender.calls)
	sender.mu.Unlock()
}

func TestRelayRetriesFailedInvocationsTwice(t *testing.T) {
	t.Parallel()
	routes := []Route{{Bucket: "media", Events: []string{"s3:ObjectCreated:*"}, Function: "ProcessUploadFunction"}}

	inv := &fakeInvoker{results: []error{errFunction, invoke.ErrTimeout}}
	r := newTestRelay(t, routes, nil, inv)
	post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "k"))
	eventually(t, "delivered on the second retry", func() bool { return r.Delivered() == 1 })
	require.Len(t, inv.invocations(), 3)

	inv = &fakeInvoker{results: []error{errFunction, errFunction, errFunction, errFunction}}
	r = newTestRelay(t, routes, nil, inv)
	post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "k"))
	eventually(t, "given up", func() bool { return r.Failed() == 1 })
	require.Len(t, inv.invocations(), 3, "one invocation and two retries")

	inv = &fakeInvoker{results: []error{invoke.ErrThrottled, invoke.ErrThrottled, invoke.ErrThrottled, errFunction, errFunction}}
	r = newTestRelay(t, routes, nil, inv)
	post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "k"))
	eventually(t, "throttles do not use up the retries", func() bool { return r.Delivered() == 1 })
	require.Len(t, inv.invocations(), 6)

	inv = &fakeInvoker{results: []error{invoke.ErrUnknownFunction}}
	r = newTestRelay(t, routes, nil, inv)
	post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "k"))
	eventually(t, "unknown functions are not retried", func() bool { return r.Failed() == 1 })
	require.Len(t, inv.invocations(), 1)
}

func TestRelayAnswersAtOnceAndDropsWhenFull(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{block: make(chan struct{})}
	r := newTestRelay(t, []Route{{Bucket: "media", Events: []string{"s3:ObjectCreated:*"}, QueueURL: testQueue}}, sender, nil)

	start := time.Now()
	total := pendingLimit + workers + 10
	for i := range total {
		require.Equal(t, http.StatusNoContent, post(t, r, vgwPayload(t, "s3:ObjectCreated:Put", "k"+string(rune('a'+i%26)))))
	}
	require.Less(t, time.Since(start), 3*time.Second, "the webhook never waits for deliveries")
	eventually(t, "the overflow is dropped", func() bool { return r.Failed() >= 10 })

	close(sender.block)
	eventually(t, "the rest is delivered", func() bool { return r.Delivered()+r.Failed() == int64(total) })
}
