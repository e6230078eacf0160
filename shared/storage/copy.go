package storage

import (
	"context"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/redub/redub/shared/apperr"
)

// copyPartSize is the part size of a multipart copy (objects over MaxPutSize).
const copyPartSize int64 = 512 << 20

// ErrChanged is wrapped by Copy's error when the source is no longer the
// object with the ETag the caller named: its bytes were replaced meanwhile.
var ErrChanged = apperr.New(apperr.Conflict, "the object changed while it was being copied")

// Copy copies the object at src (size bytes) to dst inside the bucket. With
// etag set, the copy is made only of the object with that ETag (S3's
// x-amz-copy-source-if-match, on every part of a multipart copy), so the
// bytes at dst are exactly the ones the caller examined; when the source
// changed meanwhile Copy fails wrapping ErrChanged and dst is not written. A
// missing source is an apperr.NotFound error.
func (s *Store) Copy(ctx context.Context, src, dst string, size int64, etag string) error {
	source := url.PathEscape(s.bucket) + "/" + escapeKey(src)
	var ifMatch *string
	if etag != "" {
		ifMatch = aws.String(`"` + etag + `"`)
	}
	if size <= MaxPutSize {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &dst, CopySource: &source, CopySourceIfMatch: ifMatch})
		return copyError(src, dst, err)
	}
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &dst})
	if err != nil {
		return fmt.Errorf("copy %s to %s: start: %w", src, dst, err)
	}
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+copyPartSize {
		end := min(off+copyPartSize, size) - 1
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &s.bucket, Key: &dst, UploadId: up.UploadId,
			PartNumber: aws.Int32(n), CopySource: &source, CopySourceIfMatch: ifMatch,
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end))})
		if err != nil {
			_, _ = s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &dst, UploadId: up.UploadId})
			return copyError(src, dst, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &dst, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return copyError(src, dst, err)
}

func copyError(src, dst string, err error) error {
	switch {
	case err == nil:
		return nil
	case errorCode(err) == "PreconditionFailed":
		return fmt.Errorf("copy %s to %s: %w", src, dst, ErrChanged)
	}
	return fmt.Errorf("copy %s to %s: %w", src, dst, notFound(err))
}

// escapeKey escapes each segment of a key for x-amz-copy-source.
func escapeKey(key string) string {
	out := make([]byte, 0, len(key))
	seg := []byte{}
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			out = append(out, url.PathEscape(string(seg))...)
			if i < len(key) {
				out = append(out, '/')
			}
			seg = seg[:0]
			continue
		}
		seg = append(seg, key[i])
	}
	return string(out)
}
