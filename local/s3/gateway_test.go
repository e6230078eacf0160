package s3

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // S3 ETags are MD5s
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/require"
)

const (
	testAccess = "AKIALOCALTEST"
	testSecret = "local-test-secret"
	testBucket = "media"
)

// gatewayBinary finds versitygw: $VERSITYGW, the repository's .tools, PATH.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("VERSITYGW"); bin != "" {
		return bin
	}
	if bin, err := filepath.Abs("../../.tools/versitygw"); err == nil {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	return "" // PATH
}

// startGateway starts versitygw over dir posting events to hook, and stops
// it when the test ends; it skips the test when versitygw is not installed.
func startGateway(t *testing.T, dir, hook string) *Gateway {
	t.Helper()
	g, err := StartGateway(t.Context(), GatewayOptions{
		Binary: gatewayBinary(t), DataDir: dir,
		AccessKey: testAccess, SecretKey: testSecret, Region: "us-east-1",
		WebhookURL: hook, Log: testLog{t},
	})
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g.Stop(context.Background())) })
	return g
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newClient(endpoint string) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
	})
}

// stack is a gateway whose events go through a Relay to fakes.
type stack struct {
	gw     *Gateway
	relay  *Relay
	sender *fakeSender
	inv    *fakeInvoker
	client *awss3.Client
}

func setup(t *testing.T, routes []Route) *stack {
	t.Helper()
	s := &stack{sender: &fakeSender{}, inv: &fakeInvoker{}}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux) // before the gateway: it posts a test event as it starts
	t.Cleanup(srv.Close)
	s.gw = startGateway(t, t.TempDir(), srv.URL+"/s3-events")
	s.client = newClient(s.gw.Endpoint())
	s.relay = newTestRelay(t, routes, s.sender, s.inv)
	s.relay.objects = s.client
	mux.Handle("/s3-events", s.relay)
	require.NoError(t, EnsureBucket(t.Context(), s.client, testBucket))
	return s
}

// presignedPut uploads body to key through a presigned URL, as a browser
// would, and returns the response status.
func (s *stack) presignedPut(t *testing.T, key, contentType string, body []byte, tamper func(string) string) int {
	t.Helper()
	req, err := awss3.NewPresignClient(s.client).PresignPutObject(t.Context(), &awss3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key),
		ContentType: aws.String(contentType), ContentLength: aws.Int64(int64(len(body))),
	}, awss3.WithPresignExpires(5*time.Minute))
	require.NoError(t, err)
	u := req.URL
	if tamper != nil {
		u = tamper(u)
	}
	put, err := http.NewRequestWithContext(t.Context(), http.MethodPut, u, bytes.NewReader(body))
	require.NoError(t, err)
	for name, values := range req.SignedHeader {
		if name != "Host" && name != "Content-Length" {
			put.Header[name] = values
		}
	}
	resp, err := http.DefaultClient.Do(put)
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Logf("PUT %s: %d %s", key, resp.StatusCode, msg)
	}
	return resp.StatusCode
}

func md5hex(b []byte) string {
	sum := md5.Sum(b) //nolint:gosec // S3 ETags are MD5s
	return hex.EncodeToString(sum[:])
}

// TestVersitygwPayloads records what versitygw v1.8.0 posts to its webhook
// for each kind of write and prints it (go test -v -run Payloads). It pins
// the ways the payload differs from S3's that the Relay corrects, so an
// upgrade that changes them fails here.
func TestVersitygwPayloads(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var posts []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var v map[string]any
		require.NoError(t, json.Unmarshal(body, &v))
		mu.Lock()
		posts = append(posts, v)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	gw := startGateway(t, t.TempDir(), srv.URL)
	s := &stack{gw: gw, client: newClient(gw.Endpoint())}
	ctx := t.Context()
	require.NoError(t, EnsureBucket(ctx, s.client, testBucket))
	require.NoError(t, EnsureBucket(ctx, s.client, testBucket), "EnsureBucket is idempotent")

	const key = "uploads/u1/a1/my vidéo ñ+x%41.mp4"
	require.Equal(t, http.StatusOK, s.presignedPut(t, key, "video/mp4", []byte("hello"), nil))
	_, err := s.client.CopyObject(ctx, &awss3.CopyObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String("copy/c.mp4"), CopySource: aws.String(testBucket + "/" + strings.NewReplacer("+", "%20", "%2F", "/").Replace(url.QueryEscape(key))),
	})
	require.NoError(t, err)
	multipartUpload(t, s.client, "mp/big.bin", 2)
	_, err = s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String("copy/c.mp4")})
	require.NoError(t, err)
	_, err = s.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String(testBucket), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String(key)}, {Key: aws.String("never/existed")}},
	}})
	require.NoError(t, err)

	byName := map[string][]map[string]any{}
	eventually(t, "all posts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(posts) == 7 // test event, put, copy, complete, delete, 2 × delete-objects
	})
	mu.Lock()
	defer mu.Unlock()
	for _, p := range posts {
		b, _ := json.MarshalIndent(p, "", "  ")
		t.Logf("versitygw posted:\n%s", b)
		if p["Event"] == testEventName {
			continue
		}
		records := p["Records"].([]any)
		require.Len(t, records, 1, "versitygw posts one record at a time")
		rec := records[0].(map[string]any)
		byName[rec["eventName"].(string)] = append(byName[rec["eventName"].(string)], rec)
	}

	put := byName["s3:ObjectCreated:Put"]
	require.Len(t, put, 1, "event names keep the s3: prefix")
	require.Equal(t, "2.2", put[0]["eventVersion"])
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$`, put[0]["eventTime"], "whole seconds")
	require.Contains(t, put[0]["userIdentity"], "PrincipalId")
	require.Equal(t, map[string]any{"x-amz-request-id": "", "x-amz-id-2": ""}, put[0]["responseElements"])
	obj := put[0]["s3"].(map[string]any)["object"].(map[string]any)
	require.Equal(t, key, obj["key"], "the key is not encoded")
	require.Equal(t, `"`+md5hex([]byte("hello"))+`"`, obj["eTag"], "the ETag keeps its quotes")
	require.EqualValues(t, 5, obj["size"])
	require.Equal(t, "arn:aws:s3:::/media/"+key, put[0]["s3"].(map[string]any)["bucket"].(map[string]any)["arn"])
	require.Contains(t, put[0], "glacierEventData")

	for _, name := range []string{"s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload"} {
		require.Len(t, byName[name], 1, name)
		obj := byName[name][0]["s3"].(map[string]any)["object"].(map[string]any)
		require.EqualValues(t, 0, obj["size"], "%s reports no size", name)
		require.Equal(t, "", obj["versionId"], "%s reports an empty version id", name)
	}
	require.Len(t, byName["s3:ObjectRemoved:Delete"], 1)
	require.Len(t, byName["s3:ObjectRemoved:DeleteObjects"], 2, "one post per key, missing keys included")
}

// multipartUpload uploads parts parts of 5 MiB to key and returns the
// whole object's size.
func multipartUpload(t *testing.T, c *awss3.Client, key string, parts int) int64 {
	t.Helper()
	ctx := t.Context()
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	require.NoError(t, err)
	var done []types.CompletedPart
	part := bytes.Repeat([]byte("x"), 5<<20)
	for n := int32(1); n <= int32(parts); n++ {
		out, err := c.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: aws.String(testBucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(part),
		})
		require.NoError(t, err)
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: aws.String(testBucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	require.NoError(t, err)
	return int64(parts) * int64(len(part))
}

func TestPresignedPutDeliversOneAWSEvent(t *testing.T) {
	t.Parallel()
	const queue = "http://127.0.0.1:9324/000000000000/uploads"
	s := setup(t, []Route{{
		ID: "UploadsToQueue", Bucket: testBucket, Events: []string{"s3:ObjectCreated:*"},
		Prefix: "uploads/", QueueURL: queue, QueueARN: "arn:aws:sqs:us-east-1:000000000000:uploads",
	}})
	const key = "uploads/u1/a1/my vidéo ñ.mp4"
	body := bytes.Repeat([]byte("video"), 1000)
	before := time.Now().UTC().Truncate(time.Millisecond)
	require.Equal(t, http.StatusOK, s.presignedPut(t, key, "video/mp4", body, nil))

	eventually(t, "a delivery", func() bool { return s.relay.Delivered() == 1 })
	time.Sleep(300 * time.Millisecond) // and no second one
	msgs := s.sender.messages()
	require.Len(t, msgs, 1)
	require.Equal(t, queue, msgs[0].QueueURL)

	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(msgs[0].Body), &raw))
	rawRec := raw["Records"].([]any)[0].(map[string]any)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, rawRec["eventTime"])
	require.NotContains(t, msgs[0].Body, "urlDecodedKey")
	require.NotContains(t, msgs[0].Body, "PrincipalId")

	ev := decodeEvent(t, msgs[0].Body)
	require.Len(t, ev.Records, 1)
	rec := ev.Records[0]
	require.Equal(t, "2.1", rec.EventVersion)
	require.Equal(t, "aws:s3", rec.EventSource)
	require.Equal(t, "us-east-1", rec.AWSRegion)
	require.Equal(t, "ObjectCreated:Put", rec.EventName)
	require.WithinRange(t, rec.EventTime, before, time.Now().Add(time.Millisecond))
	require.Equal(t, testAccess, rec.PrincipalID.PrincipalID)
	require.Equal(t, "127.0.0.1", rec.RequestParameters.SourceIPAddress)
	require.Regexp(t, `^[0-9A-F]{16}$`, rec.ResponseElements["x-amz-request-id"])
	require.NotEmpty(t, rec.ResponseElements["x-amz-id-2"])
	require.Equal(t, "1.0", rec.S3.SchemaVersion)
	require.Equal(t, "UploadsToQueue", rec.S3.ConfigurationID)
	require.Equal(t, events.S3Bucket{
		Name: testBucket, OwnerIdentity: events.S3UserIdentity{PrincipalID: testAccess}, Arn: "arn:aws:s3:::media",
	}, rec.S3.Bucket)
	require.Equal(t, "uploads/u1/a1/my+vid%C3%A9o+%C3%B1.mp4", rec.S3.Object.Key)
	require.Equal(t, key, rec.S3.Object.URLDecodedKey)
	require.Equal(t, int64(len(body)), rec.S3.Object.Size)
	require.Equal(t, md5hex(body), rec.S3.Object.ETag)
	require.Empty(t, rec.S3.Object.VersionID)
	require.Regexp(t, `^[0-9A-F]{18}$`, rec.S3.Object.Sequencer)

	// The object is there under its raw key.
	head, err := s.client.HeadObject(t.Context(), &awss3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	require.NoError(t, err)
	require.Equal(t, "video/mp4", aws.ToString(head.ContentType))
}

func TestTamperedPresignedPutIsRefusedWithoutEvent(t *testing.T) {
	t.Parallel()
	s := setup(t, []Route{{Bucket: testBucket, Events: []string{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}, QueueURL: "q"}})
	body := []byte("data")

	otherKey := func(u string) string { return strings.Replace(u, "/u1/", "/u2/", 1) }
	require.Equal(t, http.StatusForbidden, s.presignedPut(t, "uploads/u1/a.mp4", "video/mp4", body, otherKey))
	badSig := func(u string) string {
		i := strings.Index(u, "X-Amz-Signature=") + len("X-Amz-Signature=")
		flipped := map[byte]string{'0': "1"}[u[i]]
		if flipped == "" {
			flipped = "0"
		}
		return u[:i] + flipped + u[i+1:]
	}
	require.Equal(t, http.StatusForbidden, s.presignedPut(t, "uploads/u1/b.mp4", "video/mp4", body, badSig))

	// A good upload afterwards is the only event.
	require.Equal(t, http.StatusOK, s.presignedPut(t, "uploads/u1/ok.mp4", "video/mp4", body, nil))
	eventually(t, "the good upload's event", func() bool { return s.relay.Delivered() >= 1 })
	time.Sleep(300 * time.Millisecond)
	msgs := s.sender.messages()
	require.Len(t, msgs, 1)
	require.Equal(t, "uploads/u1/ok.mp4", decodeEvent(t, msgs[0].Body).Records[0].S3.Object.Key)
}

func TestFiltersRouteEventsFromTheGateway(t *testing.T) {
	t.Parallel()
	s := setup(t, []Route{
		{Bucket: testBucket, Events: []string{"s3:ObjectCreated:*"}, Prefix: "uploads/", Suffix: ".mp4", QueueURL: "videos"},
		{Bucket: testBucket, Events: []string{"s3:ObjectCreated:Put"}, Prefix: "outputs/", QueueURL: "outputs"},
		{Bucket: "elsewhere", Events: []string{"s3:ObjectCreated:*"}, QueueURL: "elsewhere"},
	})
	for _, key := range []string{"uploads/u1/x.mp4", "uploads/u1/x.txt", "Uploads/u1/y.mp4", "other/z.mp4", "outputs/j/out.mp4"} {
		require.Equal(t, http.StatusOK, s.presignedPut(t, key, "video/mp4", []byte(key), nil), key)
	}
	eventually(t, "two deliveries", func() bool { return s.relay.Delivered() == 2 })
	time.Sleep(300 * time.Millisecond)
	keys := func(queue string) []string {
		var out []string
		for _, ev := range s.sender.to(t, queue) {
			out = append(out, ev.Records[0].S3.Object.URLDecodedKey)
		}
		return out
	}
	require.Equal(t, []string{"uploads/u1/x.mp4"}, keys("videos"))
	require.Equal(t, []string{"outputs/j/out.mp4"}, keys("outputs"))
	require.Empty(t, keys("elsewhere"))
	require.Len(t, s.sender.messages(), 2)
}

func TestMultipartUploadDeliversCompleteMultipartUpload(t *testing.T) {
	t.Parallel()
	s := setup(t, []Route{{Bucket: testBucket, Events: []string{"s3:ObjectCreated:*"}, QueueURL: "q"}})
	size := multipartUpload(t, s.client, "uploads/u1/big video.mp4", 3)

	eventually(t, "the completion event", func() bool { return s.relay.Delivered() == 1 })
	time.Sleep(300 * time.Millisecond)
	msgs := s.sender.messages()
	require.Len(t, msgs, 1, "parts make no events")
	rec := decodeEvent(t, msgs[0].Body).Records[0]
	require.Equal(t, "ObjectCreated:CompleteMultipartUpload", rec.EventName)
	require.Equal(t, "uploads/u1/big+video.mp4", rec.S3.Object.Key)
	require.Equal(t, size, rec.S3.Object.Size, "size read back from the gateway")
	require.Regexp(t, `^[0-9a-f]{32}-3$`, rec.S3.Object.ETag)
}

func TestFunctionRouteInvokesWithTheS3Event(t *testing.T) {
	t.Parallel()
	s := setup(t, []Route{
		{Bucket: testBucket, Events: []string{"s3:ObjectCreated:*"}, Prefix: "uploads/", Function: "ProcessUploadFunction"},
		{Bucket: testBucket, Events: []string{"s3:ObjectCreated:*"}, Prefix: "uploads/", QueueURL: "q"},
	})
	require.Equal(t, http.StatusOK, s.presignedPut(t, "uploads/u1/clip.mp4", "video/mp4", []byte("clip"), nil))
	eventually(t, "queue and function", func() bool { return s.relay.Delivered() == 2 })

	calls := s.inv.invocations()
	require.Len(t, calls, 1)
	require.Equal(t, "ProcessUploadFunction", calls[0].Function)
	fromFunction := decodeEvent(t, calls[0].Payload).Records[0]
	fromQueue := s.sender.to(t, "q")[0].Records[0]
	require.Equal(t, "ObjectCreated:Put", fromFunction.EventName)
	require.Equal(t, "uploads/u1/clip.mp4", fromFunction.S3.Object.Key)
	require.Equal(t, fromQueue.S3.Object, fromFunction.S3.Object, "the same event, one per route")
	require.NotEqual(t, fromQueue.S3.ConfigurationID, fromFunction.S3.ConfigurationID)
}

func TestSequencersIncreaseAcrossRestarts(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{}
	relay := newTestRelay(t, []Route{{Bucket: testBucket, Events: []string{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}, QueueURL: "q"}}, sender, nil)
	srv := httptest.NewServer(relay)
	t.Cleanup(srv.Close)
	dir := t.TempDir()

	var seqs []string
	for run := range 2 {
		gw, err := StartGateway(t.Context(), GatewayOptions{
			Binary: gatewayBinary(t), DataDir: dir, AccessKey: testAccess, SecretKey: testSecret, WebhookURL: srv.URL,
		})
		if errors.Is(err, ErrNotInstalled) {
			t.Skip(err)
		}
		require.NoError(t, err)
		c := newClient(gw.Endpoint())
		require.NoError(t, EnsureBucket(t.Context(), c, testBucket))
		if run == 1 {
			_, err := c.HeadObject(t.Context(), &awss3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k")})
			require.NoError(t, err, "objects survive a restart")
		}
		_, err = c.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k"), Body: strings.NewReader(fmt.Sprint(run))})
		require.NoError(t, err)
		_, err = c.DeleteObject(t.Context(), &awss3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k2")})
		require.NoError(t, err)
		eventually(t, "two more events", func() bool { return relay.Delivered() == int64(2*(run+1)) })
		require.NoError(t, gw.Stop(t.Context()))
	}
	for _, ev := range sender.to(t, "q") {
		if ev.Records[0].S3.Object.Key == "k" {
			seqs = append(seqs, ev.Records[0].S3.Object.Sequencer)
		}
	}
	require.Len(t, seqs, 2)
	require.Less(t, seqs[0], seqs[1], "the second run's event comes later although versitygw counts from 1 again")
}

func TestStopLeavesNoProcessAndFreesThePort(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	gw := startGateway(t, t.TempDir(), srv.URL)
	pid := gw.cmd.Process.Pid
	addr := strings.TrimPrefix(gw.Endpoint(), "http://")

	require.NoError(t, gw.Stop(t.Context()))
	require.NoError(t, gw.Stop(t.Context()), "Stop is idempotent")
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "no process left")
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err, "port free")
	l.Close()
}

func TestStartGatewayErrors(t *testing.T) {
	t.Parallel()
	_, err := StartGateway(t.Context(), GatewayOptions{
		Binary: filepath.Join(t.TempDir(), "versitygw"), DataDir: t.TempDir(), AccessKey: "a", SecretKey: "b",
	})
	require.ErrorIs(t, err, ErrNotInstalled)
	require.Contains(t, err.Error(), "run make tools")

	// versitygw refuses to start when its webhook does not answer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadHook := "http://" + l.Addr().String() + "/s3-events"
	l.Close()
	_, err = StartGateway(t.Context(), GatewayOptions{
		Binary: gatewayBinary(t), DataDir: t.TempDir(), AccessKey: testAccess, SecretKey: testSecret, WebhookURL: deadHook,
	})
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	require.Error(t, err)
	require.Contains(t, err.Error(), "webhook")
}

func TestGatewayKeepsMetadataInSidecarWithoutXattrs(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	opts := GatewayOptions{
		Binary: gatewayBinary(t), DataDir: dataDir, AccessKey: testAccess, SecretKey: testSecret, forceSidecar: true,
	}
	gw, err := StartGateway(t.Context(), opts)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, gw.Stop(context.Background())) })
	c := newClient(gw.Endpoint())
	require.NoError(t, EnsureBucket(t.Context(), c, testBucket))
	_, err = c.PutObject(t.Context(), &awss3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String("a/b.mp4"), Body: strings.NewReader("x"), ContentType: aws.String("video/mp4"),
	})
	require.NoError(t, err)
	head, err := c.HeadObject(t.Context(), &awss3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String("a/b.mp4")})
	require.NoError(t, err)
	require.Equal(t, "video/mp4", aws.ToString(head.ContentType))
	// The metadata lives in the sidecar tree, not in extended attributes.
	require.Eventually(t, func() bool {
		found := false
		_ = filepath.WalkDir(filepath.Join(root, ".data-meta"), func(path string, _ fs.DirEntry, err error) error {
			if err == nil && strings.Contains(path, "b.mp4") {
				found = true
			}
			return nil
		})
		return found
	}, 5*time.Second, 50*time.Millisecond, "no sidecar metadata for a/b.mp4 under %s", filepath.Join(root, ".data-meta"))

	opts.MetaDir = dataDir + "-meta" // versitygw would take it for a directory inside the data dir
	_, err = StartGateway(t.Context(), opts)
	require.ErrorContains(t, err, "must not start with the data dir")
}

func TestGatewayEventFilter(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{}
	relay := newTestRelay(t, []Route{{Bucket: testBucket, Events: []string{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}, QueueURL: "q"}}, sender, nil)
	srv := httptest.NewServer(relay)
	t.Cleanup(srv.Close)
	gw, err := StartGateway(t.Context(), GatewayOptions{
		Binary: gatewayBinary(t), DataDir: t.TempDir(), AccessKey: testAccess, SecretKey: testSecret,
		WebhookURL: srv.URL, Events: []string{"s3:ObjectRemoved:*"},
	})
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, gw.Stop(context.Background())) })
	c := newClient(gw.Endpoint())
	require.NoError(t, EnsureBucket(t.Context(), c, testBucket))
	_, err = c.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k"), Body: strings.NewReader("x")})
	require.NoError(t, err)
	_, err = c.DeleteObject(t.Context(), &awss3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k")})
	require.NoError(t, err)

	eventually(t, "the delete event", func() bool { return relay.Delivered() == 1 })
	time.Sleep(300 * time.Millisecond)
	msgs := sender.messages()
	require.Len(t, msgs, 1, "versitygw posts no ObjectCreated event")
	require.Equal(t, "ObjectRemoved:Delete", decodeEvent(t, msgs[0].Body).Records[0].EventName)
}
