package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
)

type uploadAnswer struct {
	Asset struct {
		ID     string
		Status string
	}
	Upload struct {
		Method    string
		URL       string
		Headers   map[string]string
		Multipart bool
		Parts     []struct {
			PartNumber int32 `json:"part_number"`
			SizeBytes  int64 `json:"size_bytes"`
			URL        string
			Headers    map[string]string
		}
	}
}

// put sends bytes to a presigned URL the way a browser does.
func put(t testing.TB, url string, headers map[string]string, body []byte) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Length") {
			continue // net/http sets it from the body, as a browser does
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil // a refused oversize body may reset the connection
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, res.Header
}

func TestBrowserStyleUploads(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, _ := e.login(t, "uploader@example.com")
	bucket := e.st.Template().Buckets["MediaBucket"].Name
	data := make([]byte, 64<<10)
	_, _ = rand.Read(data)

	r := e.do(t, call{method: "POST", path: "/uploads", token: token,
		body: map[string]any{"filename": "Talk – final ñ.mp4", "content_type": "video/mp4", "size_bytes": len(data)}})
	require.Equal(t, 201, r.Status, string(r.Body))
	var up uploadAnswer
	r.JSON(t, &up)
	require.False(t, up.Upload.Multipart)
	require.Equal(t, "pending", up.Asset.Status)

	t.Run("tampered, wrong type and wrong size are refused by S3", func(t *testing.T) {
		tampered := strings.Replace(up.Upload.URL, "/source", "/other", 1)
		require.NotEqual(t, up.Upload.URL, tampered)
		st, _ := put(t, tampered, up.Upload.Headers, data)
		require.Equal(t, 403, st, "tampered key")

		wrongType := map[string]string{"Content-Type": "text/html"}
		st, _ = put(t, up.Upload.URL, wrongType, data)
		require.Equal(t, 403, st, "wrong Content-Type")

		st, _ = put(t, up.Upload.URL, up.Upload.Headers, append(append([]byte{}, data...), 'x'))
		require.Contains(t, []int{0, 403}, st, "a larger body than signed")

		_, err := e.st.S3().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: strPtr(objectKey(t, e, up.Asset.ID))})
		require.Error(t, err, "nothing was stored by the refused requests")
	})

	t.Run("the presigned PUT is accepted", func(t *testing.T) {
		st, _ := put(t, up.Upload.URL, up.Upload.Headers, data)
		require.Equal(t, 200, st)
		head, err := e.st.S3().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: strPtr(objectKey(t, e, up.Asset.ID))})
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), *head.ContentLength)
		require.Equal(t, "video/mp4", *head.ContentType)
	})

	t.Run("multipart upload of a 20 MiB file completes", func(t *testing.T) {
		big := make([]byte, 20<<20)
		_, _ = rand.Read(big)
		r := e.do(t, call{method: "POST", path: "/uploads", token: token,
			body: map[string]any{"filename": "long.mov", "content_type": "video/quicktime", "size_bytes": len(big), "multipart": true}})
		require.Equal(t, 201, r.Status, string(r.Body))
		var mp uploadAnswer
		r.JSON(t, &mp)
		require.True(t, mp.Upload.Multipart)
		require.Greater(t, len(mp.Upload.Parts), 1)
		var parts []map[string]any
		offset := int64(0)
		for _, p := range mp.Upload.Parts {
			st, h := put(t, p.URL, p.Headers, big[offset:offset+p.SizeBytes])
			require.Equal(t, 200, st, "part %d", p.PartNumber)
			parts = append(parts, map[string]any{"part_number": p.PartNumber, "etag": h.Get("ETag")})
			offset += p.SizeBytes
		}
		require.Equal(t, int64(len(big)), offset, "the parts cover the file")
		r = e.do(t, call{method: "POST", path: "/uploads/" + mp.Asset.ID + "/complete", token: token, body: map[string]any{"parts": parts}})
		require.Equal(t, 200, r.Status, string(r.Body))
		head, err := e.st.S3().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: strPtr(objectKey(t, e, mp.Asset.ID))})
		require.NoError(t, err)
		require.Equal(t, int64(len(big)), *head.ContentLength)

		r = e.do(t, call{method: "POST", path: "/uploads/" + mp.Asset.ID + "/complete", token: token, body: map[string]any{"parts": parts}})
		require.Equal(t, 409, r.Status, "completing twice is a conflict")
	})

	t.Run("deleting an asset removes its objects", func(t *testing.T) {
		key := objectKey(t, e, up.Asset.ID)
		r := e.do(t, call{method: "DELETE", path: "/assets/" + up.Asset.ID, token: token})
		require.Equal(t, 204, r.Status, string(r.Body))
		_, err := e.st.S3().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		require.Error(t, err)
		r = e.do(t, call{method: "GET", path: "/assets/" + up.Asset.ID, token: token})
		require.Equal(t, 404, r.Status)
	})
}

func objectKey(t testing.TB, e *env, assetID string) string {
	t.Helper()
	var key string
	err := e.db.QueryRow(context.Background(), `SELECT object_key FROM assets WHERE id = $1`, assetID).Scan(&key)
	if err != nil {
		return "uploads/deleted"
	}
	return key
}

func strPtr(s string) *string { return &s }
