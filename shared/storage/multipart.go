package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/redub/redub/shared/apperr"
)

// S3's multipart limits, and our default part size.
const (
	MinPartSize     int64 = 5 << 20 // every part but the last must be at least this
	MaxParts              = 10_000
	DefaultPartSize int64 = 8 << 20
)

// PartSize returns the part size for a multipart upload of total bytes:
// 8 MiB while that needs no more than 10,000 parts (files up to 80,000 MiB,
// about 78 GiB), otherwise total/10,000 rounded up to a whole MiB, so no
// upload of up to MaxObjectSize needs more than 10,000 parts (5 TiB gives
// 525 MiB parts, under S3's 5 GiB per part). Every part is that size but
// the last, which holds the rest. Parts of 8 MiB or more keep above S3's
// 5 MiB minimum with room to spare and are small enough for a browser to
// retry cheaply.
func PartSize(total int64) int64 {
	if total <= DefaultPartSize*MaxParts {
		return DefaultPartSize
	}
	const mib = 1 << 20
	perPart := (total + MaxParts - 1) / MaxParts
	return (perPart + mib - 1) / mib * mib
}

// PresignedPart is a presigned PUT of one part of a multipart upload: Size
// bytes exactly (the Content-Length is signed). The client keeps the ETag
// header of each part's response for CompleteMultipart.
type PresignedPart struct {
	PartNumber int32
	Size       int64
	URL        string
	Headers    map[string]string
	ExpiresAt  time.Time
}

// CompletedPart is an uploaded part as CompleteMultipart needs it: its
// number and the ETag S3 answered its PUT with.
type CompletedPart struct {
	PartNumber int32
	ETag       string
}

// PendingUpload is a multipart upload that was started and neither
// completed nor aborted.
type PendingUpload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// CreateMultipart starts a multipart upload at key of an object of
// contentType (required, apperr.Invalid) and returns its upload id.
func (s *Store) CreateMultipart(ctx context.Context, key, contentType string) (string, error) {
	if err := checkContentType(contentType); err != nil {
		return "", fmt.Errorf("create multipart upload %s: %w", key, err)
	}
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, ContentType: &contentType,
	})
	if err != nil {
		return "", fmt.Errorf("create multipart upload %s: %w", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignParts returns one presigned PUT per part of an upload of size
// bytes, in order, cut as PartSize says. It may be called again for the
// same upload to get fresh URLs. size must be 1 byte to MaxObjectSize
// (apperr.Invalid, apperr.TooLarge). It does not check that the upload
// exists: a part PUT to an unknown upload answers 404.
func (s *Store) PresignParts(ctx context.Context, key, uploadID string, size int64) ([]PresignedPart, error) {
	if err := checkSize(size, 1, MaxObjectSize); err != nil {
		return nil, fmt.Errorf("presign parts of %s: %w", key, err)
	}
	if uploadID == "" {
		return nil, fmt.Errorf("presign parts of %s: %w", key, apperr.InvalidField("upload_id", "an upload id is required"))
	}
	partSize := PartSize(size)
	count := (size + partSize - 1) / partSize
	now := s.opts.Now()
	expires := now.Add(s.opts.PresignTTL)
	parts := make([]PresignedPart, 0, count)
	for i := range count {
		n := int32(i + 1) //nolint:gosec // count <= MaxParts
		length := min(partSize, size-i*partSize)
		req, err := s.sign.PresignUploadPart(ctx, &s3.UploadPartInput{
			Bucket: &s.bucket, Key: &key, UploadId: &uploadID,
			PartNumber: &n, ContentLength: &length,
		}, s.presignAt(now, s.opts.PresignTTL))
		if err != nil {
			return nil, fmt.Errorf("presign part %d of %s: %w", n, key, err)
		}
		p := presigned(req, expires)
		parts = append(parts, PresignedPart{PartNumber: n, Size: length, URL: p.URL, Headers: p.Headers, ExpiresAt: expires})
	}
	return parts, nil
}

// CompleteMultipart assembles the upload from parts (any order; each
// number once) and describes the object it made. The errors a client can
// cause are *apperr.Error values:
//   - no parts, a part number out of 1-10,000 or repeated, an empty ETag,
//     a part that was not uploaded or whose ETag does not match (S3's
//     InvalidPart), parts out of order (InvalidPartOrder): apperr.Invalid;
//   - a part other than the last under 5 MiB (EntityTooSmall): the parts
//     as uploaded cannot make an object, apperr.Conflict;
//   - an unknown upload, or one already completed or aborted (NoSuchUpload):
//     apperr.NotFound.
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []CompletedPart) (Object, error) {
	completed, err := completedParts(parts)
	if err != nil {
		return Object{}, fmt.Errorf("complete multipart upload %s: %w", key, err)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: &uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err != nil {
		return Object{}, fmt.Errorf("complete multipart upload %s: %w", key, completeError(err))
	}
	obj, err := s.Head(ctx, key)
	if err != nil {
		return Object{}, fmt.Errorf("complete multipart upload: %w", err)
	}
	return obj, nil
}

func completedParts(parts []CompletedPart) ([]types.CompletedPart, error) {
	if len(parts) == 0 {
		return nil, apperr.InvalidField("parts", "at least one part is required")
	}
	if len(parts) > MaxParts {
		return nil, apperr.InvalidField("parts", "at most %d parts are allowed", MaxParts)
	}
	sorted := slices.SortedFunc(slices.Values(parts), func(a, b CompletedPart) int {
		return cmp.Compare(a.PartNumber, b.PartNumber)
	})
	out := make([]types.CompletedPart, len(sorted))
	for i, p := range sorted {
		switch {
		case p.PartNumber < 1 || p.PartNumber > MaxParts:
			return nil, apperr.InvalidField("parts", "part number %d is out of range 1-%d", p.PartNumber, MaxParts)
		case i > 0 && p.PartNumber == sorted[i-1].PartNumber:
			return nil, apperr.InvalidField("parts", "part %d is listed twice", p.PartNumber)
		case p.ETag == "":
			return nil, apperr.InvalidField("parts", "part %d has no ETag", p.PartNumber)
		}
		out[i] = types.CompletedPart{PartNumber: aws.Int32(p.PartNumber), ETag: aws.String(p.ETag)}
	}
	return out, nil
}

func completeError(err error) error {
	switch errorCode(err) {
	case "InvalidPart":
		return apperr.Wrap(apperr.Invalid, err, "a part was not uploaded or its ETag does not match; upload it again or send the ETag its upload answered")
	case "InvalidPartOrder":
		return apperr.Wrap(apperr.Invalid, err, "parts must be listed in ascending order of part number")
	case "EntityTooSmall":
		return apperr.Wrap(apperr.Conflict, err, "every part but the last must be at least 5 MiB; upload the parts with the sizes given")
	case "NoSuchUpload":
		return apperr.Wrap(apperr.NotFound, err, "upload not found; it may have been completed, aborted or expired")
	}
	return err
}

// AbortMultipart cancels a multipart upload and frees its parts. An upload
// that does not exist (never did, or is already completed or aborted) is
// not an error, so aborting is safe to repeat.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: &uploadID,
	})
	if err != nil && errorCode(err) != "NoSuchUpload" {
		return fmt.Errorf("abort multipart upload %s: %w", key, err)
	}
	return nil
}

// ListMultipartUploads returns the multipart uploads in progress under
// prefix ("" for all) that were started before olderThan (the zero time
// for all), for the sweeper to abort.
func (s *Store) ListMultipartUploads(ctx context.Context, prefix string, olderThan time.Time) ([]PendingUpload, error) {
	var pending []PendingUpload
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: nonEmpty(prefix), MaxUploads: &s.batch}
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil && in.UploadIdMarker != nil && errorCode(err) == "InvalidArgument" {
			// versitygw (v1.8.0) refuses the upload-id-marker it handed out
			// itself, and lists only keys after the key-marker anyway; ask
			// it that way. S3 never refuses its own markers.
			in.UploadIdMarker = nil
			page, err = s.client.ListMultipartUploads(ctx, in)
		}
		if err != nil {
			return nil, fmt.Errorf("list multipart uploads under %q: %w", prefix, err)
		}
		for _, u := range page.Uploads {
			initiated := aws.ToTime(u.Initiated)
			if olderThan.IsZero() || initiated.Before(olderThan) {
				pending = append(pending, PendingUpload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: initiated})
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return pending, nil
		}
		if aws.ToString(page.NextKeyMarker) == "" {
			return nil, fmt.Errorf("list multipart uploads under %q: truncated list without a next key marker", prefix)
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}
