package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	s3local "github.com/redub/redub/local/s3"
	"github.com/redub/redub/shared/apperr"
)

const (
	testAccess = "AKIASTORAGETEST"
	testSecret = "storage-test-secret"
)

// One versitygw serves the whole package, started by the first test that
// needs it and stopped by TestMain. Each test works in a bucket of its own.
var shared struct {
	once    sync.Once
	gw      *s3local.Gateway
	hook    *httptest.Server
	dataDir string
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.gw != nil {
		if err := shared.gw.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "stop versitygw:", err)
		}
	}
	if shared.hook != nil {
		shared.hook.Close()
	}
	if shared.dataDir != "" {
		_ = os.RemoveAll(shared.dataDir)
	}
	os.Exit(code)
}

// gatewayBinary finds versitygw: $VERSITYGW, the repository's .tools, PATH.
func gatewayBinary() string {
	if bin := os.Getenv("VERSITYGW"); bin != "" {
		return bin
	}
	if bin, err := filepath.Abs("../../.tools/versitygw"); err == nil {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	return ""
}

// gateway returns the package's running versitygw, skipping the test when
// versitygw is not installed.
func gateway(t *testing.T) *s3local.Gateway {
	t.Helper()
	shared.once.Do(func() {
		// versitygw posts a test event to its webhook as it starts and will
		// not start when nothing answers there.
		shared.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		if shared.dataDir, shared.err = os.MkdirTemp("", "storage-test-*"); shared.err != nil {
			return
		}
		shared.gw, shared.err = s3local.StartGateway(context.Background(), s3local.GatewayOptions{
			Binary:    gatewayBinary(),
			DataDir:   filepath.Join(shared.dataDir, "data"),
			AccessKey: testAccess, SecretKey: testSecret,
			WebhookURL: shared.hook.URL,
		})
	})
	if errors.Is(shared.err, s3local.ErrNotInstalled) {
		t.Skip(shared.err)
	}
	require.NoError(t, shared.err)
	return shared.gw
}

// newClient builds the client as the functions do (NewClient), with the
// settings config.LoadDefaultConfig gives by default.
func newClient(endpoint string) *s3.Client {
	cfg := aws.Config{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	return NewClient(cfg, func(name string) string {
		if name == "AWS_ENDPOINT_URL_S3" {
			return endpoint
		}
		return ""
	})
}

// bundle is what a test against the gateway works with.
type bundle struct {
	store  *Store
	client *s3.Client
	bucket string
}

// setup returns a Store over a new, empty bucket of the package's gateway.
func setup(t *testing.T, opts Options) *bundle {
	t.Helper()
	gw := gateway(t)
	client := newClient(gw.Endpoint())
	bucket := "t-" + randomHex(t, 8)
	require.NoError(t, s3local.EnsureBucket(t.Context(), client, bucket))
	return &bundle{store: New(client, bucket, opts), client: client, bucket: bucket}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// response is what a plain HTTP client got back.
type response struct {
	status int
	header http.Header
	body   []byte
	code   string // S3's error code, for an error
}

// send makes the request a browser would make with a presigned URL: the
// given headers, and a Content-Length that is the body's own (net/http, like
// fetch, computes it and ignores a header that says otherwise).
func send(t *testing.T, method, url string, headers map[string]string, body []byte) response {
	t.Helper()
	resp, err := try(t, method, url, headers, body)
	require.NoError(t, err)
	return resp
}

// try is send for requests the server may cut off: versitygw refuses a
// large body it will not accept before reading it, and resets the
// connection while the client still writes.
func try(t *testing.T, method, url string, headers map[string]string, body []byte) (response, error) {
	t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	require.NoError(t, err)
	for name, value := range headers {
		if name != "Content-Length" {
			req.Header.Set(name, value)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	out := response{status: resp.StatusCode, header: resp.Header, body: got}
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message string }
		_ = xml.Unmarshal(got, &e)
		out.code = e.Code
		t.Logf("%s %s: %d %s: %s", method, strings.SplitN(url, "?", 2)[0], resp.StatusCode, e.Code, e.Message)
	}
	return out, nil
}

// requireCode checks that err carries the apperr code want.
func requireCode(t *testing.T, want apperr.Code, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, want, apperr.CodeOf(err), "error: %v", err)
}

// requireMissing checks that nothing is stored at key.
func (b *bundle) requireMissing(t *testing.T, key string) {
	t.Helper()
	_, err := b.store.Head(t.Context(), key)
	requireCode(t, apperr.NotFound, err)
}

func (b *bundle) put(t *testing.T, key string, body []byte) {
	t.Helper()
	require.NoError(t, b.store.Put(t.Context(), key, "application/octet-stream", bytes.NewReader(body), int64(len(body))))
}

func TestPing(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	require.NoError(t, b.store.Ping(t.Context()))
	require.Error(t, New(b.client, "no-such-bucket-"+randomHex(t, 4), Options{}).Ping(t.Context()))
}

func TestPutHeadGet(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := t.Context()
	data := randomBytes(t, 3000)

	t.Run("seekable", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, b.store.Put(ctx, "a/seekable.bin", "video/mp4", bytes.NewReader(data), int64(len(data))))
		obj, err := b.store.Head(ctx, "a/seekable.bin")
		require.NoError(t, err)
		require.Equal(t, Object{Key: "a/seekable.bin", Size: 3000, ContentType: "video/mp4", ETag: obj.ETag}, obj)
		require.NotEmpty(t, obj.ETag)
		require.NotContains(t, obj.ETag, `"`)

		body, got, err := b.store.Get(ctx, "a/seekable.bin")
		require.NoError(t, err)
		defer body.Close()
		read, err := io.ReadAll(body)
		require.NoError(t, err)
		require.Equal(t, data, read)
		require.Equal(t, obj, got)
	})
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		pr, pw := io.Pipe()
		go func() { _, _ = pw.Write(data); pw.Close() }()
		require.NoError(t, b.store.Put(ctx, "a/stream.bin", "audio/wav", pr, int64(len(data))))
		body, obj, err := b.store.Get(ctx, "a/stream.bin")
		require.NoError(t, err)
		defer body.Close()
		read, err := io.ReadAll(body)
		require.NoError(t, err)
		require.Equal(t, data, read)
		require.Equal(t, int64(3000), obj.Size)
		require.Equal(t, "audio/wav", obj.ContentType)
	})
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, b.store.Put(ctx, "a/empty.json", "application/json", bytes.NewReader(nil), 0))
		obj, err := b.store.Head(ctx, "a/empty.json")
		require.NoError(t, err)
		require.Zero(t, obj.Size)
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		_, err := b.store.Head(ctx, "a/missing")
		requireCode(t, apperr.NotFound, err)
		_, _, err = b.store.Get(ctx, "a/missing")
		requireCode(t, apperr.NotFound, err)
	})
	t.Run("negative size", func(t *testing.T) {
		t.Parallel()
		requireCode(t, apperr.Invalid, b.store.Put(ctx, "a/neg", "text/plain", bytes.NewReader(nil), -1))
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	b.store.batch = 3 // several DeleteObjects calls
	var keys []string
	for i := range 7 {
		key := fmt.Sprintf("d/%d", i)
		b.put(t, key, []byte("x"))
		keys = append(keys, key)
	}
	b.put(t, "keep", []byte("x"))
	require.NoError(t, b.store.Delete(t.Context(), append(keys, "d/never-existed", "d/also-missing")...))
	for _, key := range keys {
		b.requireMissing(t, key)
	}
	_, err := b.store.Head(t.Context(), "keep")
	require.NoError(t, err)
	require.NoError(t, b.store.Delete(t.Context()), "no keys, no call")
}

func TestDeletePrefix(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	b.store.batch = 2 // several list pages and delete batches
	ctx := t.Context()
	doomed := []string{"uploads/u/a/source.mp4", "uploads/u/a/x", "uploads/u/a/deep/er/y", "uploads/u/a/z", "uploads/u/a/w"}
	kept := []string{"uploads/u/a2/source.mp4", "uploads/u/b/source.mp4", "uploads/u/a.mp4", "jobs/j/a/x", "uploads/v/a/x"}
	for _, key := range slices.Concat(doomed, kept) {
		b.put(t, key, []byte(key))
	}
	inside, err := b.store.CreateMultipart(ctx, "uploads/u/a/big.mp4", "video/mp4")
	require.NoError(t, err)
	outside, err := b.store.CreateMultipart(ctx, "uploads/u/b/big.mp4", "video/mp4")
	require.NoError(t, err)

	n, err := b.store.DeletePrefix(ctx, "uploads/u/a/")
	require.NoError(t, err)
	require.Equal(t, len(doomed), n)
	for _, key := range doomed {
		b.requireMissing(t, key)
	}
	for _, key := range kept {
		_, err := b.store.Head(ctx, key)
		require.NoError(t, err, key)
	}
	pending, err := b.store.ListMultipartUploads(ctx, "uploads/", time.Time{})
	require.NoError(t, err)
	require.Len(t, pending, 1, "the upload under the prefix is aborted, the other kept")
	require.Equal(t, outside, pending[0].UploadID)
	require.NotEqual(t, inside, pending[0].UploadID)

	n, err = b.store.DeletePrefix(ctx, "uploads/u/a/")
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to delete")
	_, err = b.store.DeletePrefix(ctx, "")
	require.Error(t, err, "an empty prefix would empty the bucket")
}
