package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/redub/redub/shared/apperr"
)

// Limits of S3 itself.
const (
	// MaxPutSize is the largest object a single PUT may write (5 GiB);
	// larger files go through multipart.
	MaxPutSize int64 = 5 << 30
	// MaxObjectSize is the largest object S3 stores (5 TiB).
	MaxObjectSize int64 = 5 << 40
	// maxPresignTTL is SigV4's longest presigned URL lifetime.
	maxPresignTTL = 7 * 24 * time.Hour
	// maxBatch is the most entries one DeleteObjects, ListObjectsV2 or
	// ListMultipartUploads call takes or gives.
	maxBatch = 1000
)

// Options configures a Store. Zero values take the defaults.
type Options struct {
	// PresignTTL is how long upload URLs (PUT and part URLs) stay valid;
	// default 15 minutes.
	PresignTTL time.Duration
	// DownloadTTL is how long download URLs stay valid; default 5 minutes.
	DownloadTTL time.Duration
	// Now is the clock presigned URLs are signed with; default time.Now.
	Now func() time.Time
}

// Store is the application's S3 bucket. Its methods are safe for
// concurrent use.
type Store struct {
	client *s3.Client
	sign   *s3.PresignClient
	signer *v4.Signer
	bucket string
	opts   Options

	batch int32 // keys per list and delete call; tests make it small
}

// Object describes a stored object.
type Object struct {
	Key         string
	Size        int64
	ContentType string
	ETag        string // as S3 reports it, without the surrounding quotes
}

// New returns a Store over bucket. client must be able to reach the bucket
// (path-style for a local stand-in: see NewClient). TTLs of zero or less
// take the defaults; TTLs over seven days, SigV4's limit, are cut to it.
func New(client *s3.Client, bucket string, opts Options) *Store {
	opts.PresignTTL = ttl(opts.PresignTTL, 15*time.Minute)
	opts.DownloadTTL = ttl(opts.DownloadTTL, 5*time.Minute)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{
		client: client,
		sign:   s3.NewPresignClient(client),
		// The same signer the S3 presign client builds by default; ours lets
		// Options.Now set the signing time.
		signer: v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }),
		bucket: bucket,
		opts:   opts,
		batch:  maxBatch,
	}
}

func ttl(d, def time.Duration) time.Duration {
	switch {
	case d <= 0:
		return def
	case d > maxPresignTTL:
		return maxPresignTTL
	}
	return d
}

// Ping checks that the bucket exists and answers to our credentials.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("head bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Head describes the object at key. A missing object is an apperr.NotFound
// error.
func (s *Store) Head(ctx context.Context, key string) (Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return Object{}, fmt.Errorf("head %s: %w", key, notFound(err))
	}
	return object(key, out.ContentLength, out.ContentType, out.ETag), nil
}

// Get opens the object at key; the caller closes the body. A missing object
// is an apperr.NotFound error.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	return out.Body, object(key, out.ContentLength, out.ContentType, out.ETag), nil
}

// Put stores size bytes read from body at key, replacing what was there.
// An empty object (size 0) is allowed; objects over MaxPutSize are refused
// (apperr.TooLarge): write those through multipart. A seekable body (an
// *os.File, a *bytes.Reader) is hashed and checksummed before it is sent;
// any other reader is streamed as an unsigned payload without a checksum:
// S3 still checks its length, and TLS protects it on the way.
func (s *Store) Put(ctx context.Context, key, contentType string, body io.Reader, size int64) error {
	if err := checkSize(size, 0, MaxPutSize); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	var opts []func(*s3.Options)
	if _, seekable := body.(io.Seeker); !seekable {
		// Hashing or checksumming the payload before sending it needs a body
		// that can be read twice (the SDK can trail a checksum instead, but
		// only over TLS, and the local stack has none). The SDK also sends
		// an *io.PipeReader chunked, without the Content-Length S3
		// requires, so hide what body is.
		body = struct{ io.Reader }{body}
		opts = append(opts,
			s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware),
			func(o *s3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired },
		)
	}
	in := &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: body,
		ContentLength: &size, ContentType: nonEmpty(contentType),
	}
	if _, err := s.client.PutObject(ctx, in, opts...); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Delete removes the objects at keys, in batches of 1,000. Keys that do not
// exist are not an error.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for len(keys) > 0 {
		n := min(len(keys), int(s.batch))
		if err := s.deleteBatch(ctx, keys[:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func (s *Store) deleteBatch(ctx context.Context, keys []string) error {
	ids := make([]types.ObjectIdentifier, len(keys))
	for i := range keys {
		ids[i].Key = &keys[i]
	}
	out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: &s.bucket,
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("delete %d objects: %w", len(keys), err)
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		return fmt.Errorf("delete %d objects: %d failed, first %s: %s: %s",
			len(keys), len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
	}
	return nil
}

// DeletePrefix removes every object whose key starts with prefix and aborts
// the multipart uploads in progress there (so an upload that is still
// running cannot bring an object back), and returns how many objects it
// deleted. prefix should end with a slash (see UploadPrefix, JobPrefix); an
// empty prefix, which would empty the bucket, is refused.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, errors.New("delete prefix: refusing an empty prefix")
	}
	uploads, err := s.ListMultipartUploads(ctx, prefix, time.Time{})
	if err != nil {
		return 0, fmt.Errorf("delete prefix %s: %w", prefix, err)
	}
	for _, u := range uploads {
		if err := s.AbortMultipart(ctx, u.Key, u.UploadID); err != nil {
			return 0, fmt.Errorf("delete prefix %s: %w", prefix, err)
		}
	}
	deleted := 0
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: &prefix, MaxKeys: &s.batch,
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return deleted, fmt.Errorf("delete prefix %s: list: %w", prefix, err)
		}
		keys := make([]string, 0, len(page.Contents))
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if err := s.Delete(ctx, keys...); err != nil {
			return deleted, fmt.Errorf("delete prefix %s: %w", prefix, err)
		}
		deleted += len(keys)
	}
	return deleted, nil
}

func object(key string, size *int64, contentType, etag *string) Object {
	return Object{
		Key:         key,
		Size:        aws.ToInt64(size),
		ContentType: aws.ToString(contentType),
		ETag:        strings.Trim(aws.ToString(etag), `"`),
	}
}

// checkSize returns an apperr error unless least <= size <= limit.
func checkSize(size, least, limit int64) error {
	switch {
	case size < least:
		return apperr.InvalidField("size", "size must be at least %d bytes", least)
	case size > limit:
		return apperr.New(apperr.TooLarge, "size %d is over the limit of %d bytes", size, limit)
	}
	return nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// errorCode returns the S3 error code in err's chain, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// notFound turns S3's missing-object errors into apperr.NotFound and
// returns others unchanged. (HeadObject's 404 has no body, so the SDK
// calls it NotFound; GetObject says NoSuchKey.)
func notFound(err error) error {
	switch errorCode(err) {
	case "NotFound", "NoSuchKey":
		return apperr.Wrap(apperr.NotFound, err, "object not found")
	}
	return err
}
