package s3

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"
)

// FuzzRelayDecode feeds the relay's decoding any webhook post, as versitygw
// (or anything else on the loopback) may send it. Each record it reads must
// become an S3 event that decodes as AWS's, whose URL-encoded key decodes
// (as ingest decodes it) to the key that was posted.
func FuzzRelayDecode(f *testing.F) {
	seeds, err := filepath.Glob("testdata/versitygw-*.json")
	require.NoError(f, err)
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"uploads/a b+c/%41/ü/source","size":3,"sequencer":"zz"}}}]}`))
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var post vgwPost
		if json.Unmarshal(body, &post) != nil {
			return
		}
		for _, in := range post.Records {
			rec, _, _ := normalize(in, "us-east-1", now)
			require.False(t, strings.HasPrefix(rec.EventName, "s3:"), rec.EventName)
			b, err := marshalEvent(rec)
			require.NoError(t, err)
			var ev events.S3Event
			require.NoError(t, json.Unmarshal(b, &ev), "%s", b)
			require.Len(t, ev.Records, 1)
			key, err := url.QueryUnescape(ev.Records[0].S3.Object.Key)
			require.NoError(t, err, "%q", ev.Records[0].S3.Object.Key)
			require.Equal(t, in.S3.Object.Key, key)
			require.Equal(t, in.S3.Bucket.Name, ev.Records[0].S3.Bucket.Name)
		}
	})
}
