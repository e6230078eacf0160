package storage

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
)

const mib = 1 << 20

func TestPartSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		total int64
		want  int64
	}{
		{0, 8 * mib},
		{1, 8 * mib},
		{20 * mib, 8 * mib},
		{5 << 30, 8 * mib},
		{80_000 * mib, 8 * mib},                 // exactly 10,000 parts
		{80_000*mib + 1, 9 * mib},               // one byte more: grow, to a whole MiB
		{100 << 30, 11 * mib},                   // 100 GiB
		{MaxObjectSize, 525 * mib},              // 5 TiB
		{MaxObjectSize - 1, 525 * mib},          //
		{1 << 40, (1<<40/10_000/mib + 1) * mib}, // 1 TiB: 105 MiB
	} {
		t.Run(strconv.FormatInt(tt.total, 10), func(t *testing.T) {
			t.Parallel()
			size := PartSize(tt.total)
			require.Equal(t, tt.want, size)
			require.GreaterOrEqual(t, size, MinPartSize)
			require.LessOrEqual(t, size, int64(5<<30), "S3's largest part")
			require.Zero(t, size%mib)
			require.LessOrEqual(t, (tt.total+size-1)/size, int64(MaxParts))
		})
	}
}

func TestPresignPartsCutsTheFile(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	s := New(newClient("http://127.0.0.1:1"), "bucket", Options{Now: func() time.Time { return now }, PresignTTL: time.Hour})

	parts, err := s.PresignParts(t.Context(), "k", "upload-1", 20*mib+3)
	require.NoError(t, err)
	require.Len(t, parts, 3)
	for i, want := range []int64{8 * mib, 8 * mib, 4*mib + 3} {
		p := parts[i]
		require.Equal(t, int32(i+1), p.PartNumber)
		require.Equal(t, want, p.Size)
		require.Equal(t, map[string]string{"Content-Length": strconv.FormatInt(want, 10)}, p.Headers)
		require.Equal(t, now.Add(time.Hour), p.ExpiresAt)
		q := mustQuery(t, p.URL)
		require.Equal(t, strconv.Itoa(i+1), q.Get("partNumber"))
		require.Equal(t, "upload-1", q.Get("uploadId"))
		require.Equal(t, "content-length;host", q.Get("X-Amz-SignedHeaders"))
	}

	parts, err = s.PresignParts(t.Context(), "k", "upload-1", 1)
	require.NoError(t, err)
	require.Len(t, parts, 1)
	require.Equal(t, int64(1), parts[0].Size)

	for _, tt := range []struct {
		uploadID string
		size     int64
		want     apperr.Code
	}{
		{"u", 0, apperr.Invalid},
		{"u", MaxObjectSize + 1, apperr.TooLarge},
		{"", 10, apperr.Invalid},
	} {
		_, err := s.PresignParts(t.Context(), "k", tt.uploadID, tt.size)
		requireCode(t, tt.want, err)
	}
}

func TestMultipartThroughPresignedParts(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := t.Context()
	key := UploadKey(uuid.New(), uuid.New(), "big.mov")
	data := randomBytes(t, 20*mib)

	uploadID, err := b.store.CreateMultipart(ctx, key, "video/quicktime")
	require.NoError(t, err)
	parts, err := b.store.PresignParts(ctx, key, uploadID, int64(len(data)))
	require.NoError(t, err)
	require.Len(t, parts, 3)

	// A part of another length is refused like a single PUT (or cut off).
	for _, n := range []int64{parts[0].Size - 1, parts[0].Size + 1} {
		resp, err := try(t, "PUT", parts[0].URL, parts[0].Headers, data[:n])
		if err != nil {
			t.Logf("PUT part 1 of %d bytes: %v", n, err)
		} else {
			require.Equal(t, 403, resp.status)
			require.Equal(t, "SignatureDoesNotMatch", resp.code)
		}
	}
	listed, err := b.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &b.bucket, Key: &key, UploadId: &uploadID})
	require.NoError(t, err)
	require.Empty(t, listed.Parts, "no part stored")

	var completed []CompletedPart
	offset := int64(0)
	for _, p := range parts {
		resp := send(t, "PUT", p.URL, p.Headers, data[offset:offset+p.Size])
		require.Equal(t, 200, resp.status, "part %d", p.PartNumber)
		etag := resp.header.Get("ETag")
		require.NotEmpty(t, etag)
		completed = append([]CompletedPart{{PartNumber: p.PartNumber, ETag: etag}}, completed...) // any order
		offset += p.Size
	}

	obj, err := b.store.CompleteMultipart(ctx, key, uploadID, completed)
	require.NoError(t, err)
	require.Equal(t, key, obj.Key)
	require.Equal(t, int64(20*mib), obj.Size)
	require.Equal(t, "video/quicktime", obj.ContentType)
	head, err := b.store.Head(ctx, key)
	require.NoError(t, err)
	require.Equal(t, obj, head)

	body, _, err := b.store.Get(ctx, key)
	require.NoError(t, err)
	defer body.Close()
	var got bytes.Buffer
	_, err = got.ReadFrom(body)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got.Bytes()), "the object is the parts in order")

}

// uploadParts starts an upload at key and uploads sizes as its parts with
// the SDK, returning the upload id and the parts' ETags.
func (b *bundle) uploadParts(t *testing.T, key string, sizes ...int) (string, []CompletedPart) {
	t.Helper()
	ctx := t.Context()
	uploadID, err := b.store.CreateMultipart(ctx, key, "video/mp4")
	require.NoError(t, err)
	var parts []CompletedPart
	for i, size := range sizes {
		n := int32(i + 1) //nolint:gosec // a few parts
		out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &b.bucket, Key: &key, UploadId: &uploadID, PartNumber: &n,
			Body: bytes.NewReader(randomBytes(t, size)), ContentLength: aws.Int64(int64(size)),
		})
		require.NoError(t, err)
		parts = append(parts, CompletedPart{PartNumber: n, ETag: aws.ToString(out.ETag)})
	}
	return uploadID, parts
}

func TestCompleteMultipartErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})

	t.Run("wrong ETag", func(t *testing.T) {
		t.Parallel()
		uploadID, parts := b.uploadParts(t, "c/etag", 100)
		parts[0].ETag = `"0123456789abcdef0123456789abcdef"`
		_, err := b.store.CompleteMultipart(t.Context(), "c/etag", uploadID, parts)
		requireCode(t, apperr.Invalid, err)
		b.requireMissing(t, "c/etag")
	})
	t.Run("part never uploaded", func(t *testing.T) {
		t.Parallel()
		uploadID, parts := b.uploadParts(t, "c/missing-part", 100)
		parts[0].PartNumber = 2
		_, err := b.store.CompleteMultipart(t.Context(), "c/missing-part", uploadID, parts)
		requireCode(t, apperr.Invalid, err)
	})
	t.Run("part too small", func(t *testing.T) {
		t.Parallel()
		uploadID, parts := b.uploadParts(t, "c/small", 1000, 1000)
		_, err := b.store.CompleteMultipart(t.Context(), "c/small", uploadID, parts)
		requireCode(t, apperr.Conflict, err)
		b.requireMissing(t, "c/small")
	})
	t.Run("unknown upload", func(t *testing.T) {
		t.Parallel()
		_, parts := b.uploadParts(t, "c/unknown", 100)
		_, err := b.store.CompleteMultipart(t.Context(), "c/unknown", "no-such-upload", parts)
		requireCode(t, apperr.NotFound, err)
	})
	t.Run("bad part lists", func(t *testing.T) {
		t.Parallel()
		for _, parts := range [][]CompletedPart{
			nil,
			{{PartNumber: 0, ETag: "x"}},
			{{PartNumber: MaxParts + 1, ETag: "x"}},
			{{PartNumber: 1, ETag: "x"}, {PartNumber: 1, ETag: "y"}},
			{{PartNumber: 1, ETag: ""}},
		} {
			_, err := b.store.CompleteMultipart(t.Context(), "c/bad", "u", parts)
			requireCode(t, apperr.Invalid, err)
		}
	})
}

func TestAbortMultipartIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := t.Context()
	uploadID, parts := b.uploadParts(t, "a/big.mp4", 100)

	require.NoError(t, b.store.AbortMultipart(ctx, "a/big.mp4", uploadID))
	require.NoError(t, b.store.AbortMultipart(ctx, "a/big.mp4", uploadID), "again")
	require.NoError(t, b.store.AbortMultipart(ctx, "a/big.mp4", "never-existed"))

	pending, err := b.store.ListMultipartUploads(ctx, "", time.Time{})
	require.NoError(t, err)
	require.Empty(t, pending)
	_, err = b.store.CompleteMultipart(ctx, "a/big.mp4", uploadID, parts)
	requireCode(t, apperr.NotFound, err)
	b.requireMissing(t, "a/big.mp4")
}

func TestListMultipartUploads(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	b.store.batch = 2 // several pages
	ctx := t.Context()
	want := map[string]string{} // upload id -> key
	for i := range 5 {
		key := fmt.Sprintf("uploads/u/%d/source.mp4", i)
		id, err := b.store.CreateMultipart(ctx, key, "video/mp4")
		require.NoError(t, err)
		want[id] = key
	}
	other, err := b.store.CreateMultipart(ctx, "jobs/j/x", "video/mp4")
	require.NoError(t, err)

	pending, err := b.store.ListMultipartUploads(ctx, "uploads/", time.Now().Add(time.Minute))
	require.NoError(t, err)
	got := map[string]string{}
	for _, p := range pending {
		got[p.UploadID] = p.Key
		require.WithinDuration(t, time.Now(), p.Initiated, time.Minute)
	}
	require.Equal(t, want, got)

	pending, err = b.store.ListMultipartUploads(ctx, "uploads/", time.Now().Add(-time.Minute))
	require.NoError(t, err)
	require.Empty(t, pending, "none started before a minute ago")

	pending, err = b.store.ListMultipartUploads(ctx, "", time.Time{})
	require.NoError(t, err)
	require.Len(t, pending, 6)
	require.Contains(t, pending, PendingUpload{Key: "jobs/j/x", UploadID: other, Initiated: pending[indexOf(pending, other)].Initiated})
}

func indexOf(pending []PendingUpload, uploadID string) int {
	for i, p := range pending {
		if p.UploadID == uploadID {
			return i
		}
	}
	return -1
}
