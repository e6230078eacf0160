package s3

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEncodeKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, want string }{
		{"HappyFace.jpg", "HappyFace.jpg"},
		{"red flower.jpg", "red+flower.jpg"},
		{"uploads/u1/a1/my vidéo ñ.mp4", "uploads/u1/a1/my+vid%C3%A9o+%C3%B1.mp4"},
		{"this im + age.txt", "this+im+%2B+age.txt"},
		{"a=1;b:2,c&d?e#f", "a%3D1%3Bb%3A2%2Cc%26d%3Fe%23f"},
		{"100%/x%41", "100%25/x%2541"},
		{"日本/é", "%E6%97%A5%E6%9C%AC/%C3%A9"},
		{"a//b/", "a//b/"},
	}
	for _, tt := range tests {
		got := encodeKey(tt.key)
		require.Equal(t, tt.want, got, tt.key)
		decoded, err := url.QueryUnescape(got) // how consumers (and events.S3Object) decode it
		require.NoError(t, err)
		require.Equal(t, tt.key, decoded)
	}
}

func TestMatchesEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		name     string
		want     bool
	}{
		{[]string{"s3:ObjectCreated:*"}, "ObjectCreated:Put", true},
		{[]string{"s3:ObjectCreated:*"}, "ObjectCreated:CompleteMultipartUpload", true},
		{[]string{"s3:ObjectCreated:*"}, "ObjectRemoved:Delete", false},
		{[]string{"s3:ObjectCreated:Put"}, "ObjectCreated:Put", true},
		{[]string{"s3:ObjectCreated:Put"}, "ObjectCreated:Copy", false},
		{[]string{"ObjectRemoved:*"}, "ObjectRemoved:Delete", true},
		{[]string{"s3:ObjectCreated:Put", "s3:ObjectRemoved:*"}, "ObjectRemoved:Delete", true},
		{nil, "ObjectCreated:Put", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, matchesEvent(tt.patterns, tt.name), "%v %s", tt.patterns, tt.name)
	}
}

func TestEventName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ObjectCreated:Put", eventName("s3:ObjectCreated:Put"))
	require.Equal(t, "ObjectCreated:CompleteMultipartUpload", eventName("s3:ObjectCreated:CompleteMultipartUpload"))
	require.Equal(t, "ObjectRemoved:Delete", eventName("s3:ObjectRemoved:DeleteObjects"))
	require.Equal(t, "ObjectTagging:Put", eventName("s3:ObjectTagging:Put"))
}

func TestSequencerOrdersAsStrings(t *testing.T) {
	t.Parallel()
	epoch := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).UnixMilli()
	seqs := []string{
		sequencer(epoch, 9),
		sequencer(epoch, 10),
		sequencer(epoch, 0x10000000), // wider than 7 digits
		sequencer(epoch+1, 1),        // versitygw restarted: its counter starts again
	}
	for i := 1; i < len(seqs); i++ {
		require.Less(t, seqs[i-1], seqs[i])
	}
	require.Regexp(t, `^[0-9A-F]{18}$`, seqs[0])
}

// TestNormalizeFixtures turns payloads captured from versitygw v1.8.0 into
// the events S3 sends, compared as JSON.
func TestNormalizeFixtures(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"put", "delete-objects"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var post vgwPost
			require.NoError(t, json.Unmarshal(readFile(t, "versitygw-"+name+".json"), &post))
			require.Len(t, post.Records, 1)

			now := time.Date(2026, 11, 25, 17, 53, 18, 250_000_000, time.UTC)
			rec, seq, ok := normalize(post.Records[0], "", now)
			require.True(t, ok)
			rec.S3.Object.Sequencer = sequencer(now.UnixMilli(), seq)
			rec.S3.ConfigurationID = "uploads"
			require.Regexp(t, `^[0-9A-F]{16}$`, rec.ResponseElements["x-amz-request-id"])
			require.Regexp(t, `^[A-Za-z0-9+/]{76}$`, rec.ResponseElements["x-amz-id-2"])
			rec.ResponseElements = map[string]string{"x-amz-request-id": "REQUESTID", "x-amz-id-2": "HOSTID"}

			got, err := marshalEvent(rec)
			require.NoError(t, err)
			require.JSONEq(t, string(readFile(t, "aws-"+name+".json")), string(got))
		})
	}
}

func TestMarshalEventTimeKeepsMilliseconds(t *testing.T) {
	t.Parallel()
	var post vgwPost
	require.NoError(t, json.Unmarshal(readFile(t, "versitygw-put.json"), &post))
	rec, _, _ := normalize(post.Records[0], "eu-west-1", time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)))
	rec.S3.Object.Size = 0
	b, err := marshalEvent(rec)
	require.NoError(t, err)
	require.Contains(t, string(b), `"eventTime":"2026-01-02T02:04:05.000Z"`)
	require.Contains(t, string(b), `"awsRegion":"eu-west-1"`)
	require.Contains(t, string(b), `"size":0`) // an empty object still has a size
	require.NotContains(t, string(b), "urlDecodedKey")
	require.NotContains(t, string(b), "glacierEventData")
	require.NotContains(t, string(b), "versionId") // none on an unversioned bucket
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}
