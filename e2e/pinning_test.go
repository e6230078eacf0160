package e2e_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestBytesPutAfterVerificationChangeNothing: once ingest verified an
// upload, its owner PUTs other bytes to the same (still valid) presigned URL.
// The asset's download and a new job's outputs are still the verified bytes.
func TestBytesPutAfterVerificationChangeNothing(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, user := e.login(t, "swapper@example.com")
	dir := t.TempDir()
	src := sample(t, dir, 4)
	data, err := os.ReadFile(src)
	require.NoError(t, err)

	r := e.do(t, call{method: "POST", path: "/uploads", token: token,
		body: map[string]any{"filename": "talk.mp4", "content_type": "video/mp4", "size_bytes": len(data), "recipe": "transcode"}})
	require.Equal(t, 201, r.Status, string(r.Body))
	var up uploadAnswer
	r.JSON(t, &up)
	st, _ := put(t, up.Upload.URL, up.Upload.Headers, data)
	require.Equal(t, 200, st)
	first := e.waitJob(t, token, e.jobOf(t, token, up.Asset.ID), 3*time.Minute)
	require.Equal(t, "succeeded", first.Status, "%+v", first)
	before := filepath.Join(dir, "before.mp4")
	e.fetch(t, token, outputsByKind(first)["video"], before)

	// Same length (the URL signs it), other bytes: the middle is zeroed.
	swapped := bytes.Clone(data)
	clear(swapped[len(swapped)/3 : 2*len(swapped)/3])
	st, _ = put(t, up.Upload.URL, up.Upload.Headers, swapped)
	require.Equal(t, 200, st, "the URL is still valid: S3 cannot refuse it")
	// Ingest sees the new bytes' event and removes them: no asset claims them.
	bucket := e.st.Template().Buckets["MediaBucket"].Name
	sourceKey := "uploads/" + user + "/" + up.Asset.ID + "/source.mp4"
	require.Eventually(t, func() bool {
		_, err := e.st.S3().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &sourceKey})
		return err != nil
	}, time.Minute, 200*time.Millisecond, "the bytes put after verification were not removed")

	original := filepath.Join(dir, "original.mp4")
	e.fetch(t, token, up.Asset.ID, original)
	got, err := os.ReadFile(original)
	require.NoError(t, err)
	require.Equal(t, data, got, "the asset's download is the verified upload")

	r = e.do(t, call{method: "POST", path: "/jobs", token: token, body: map[string]any{"asset_id": up.Asset.ID, "recipe": "transcode"},
		headers: map[string]string{"Idempotency-Key": uuid.NewString()}})
	require.Equal(t, 201, r.Status, string(r.Body))
	var again jobView
	r.JSON(t, &again)
	second := e.waitJob(t, token, again.ID, 3*time.Minute)
	require.Equal(t, "succeeded", second.Status, "%+v", second)
	after := filepath.Join(dir, "after.mp4")
	e.fetch(t, token, outputsByKind(second)["video"], after)
	require.Equal(t, probe(t, before), probe(t, after), "a new job reads the verified bytes, not the swapped ones")
}
