package template

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNotificationMatches(t *testing.T) {
	t.Parallel()
	uploads := Notification{Events: []string{"s3:ObjectCreated:*"}, Prefix: "uploads/", Queue: "IngestQueue"}
	jpegs := Notification{Events: []string{"s3:ObjectCreated:Put", "s3:ObjectRemoved:*"}, Prefix: "images/", Suffix: ".jpg", Function: "F"}
	everything := Notification{Events: []string{"s3:ObjectCreated:*"}, Function: "F"}

	tests := []struct {
		name  string
		n     Notification
		event string
		key   string
		want  bool
	}{
		{"wildcard covers Put", uploads, "ObjectCreated:Put", "uploads/a.mp4", true},
		{"wildcard covers multipart", uploads, "ObjectCreated:CompleteMultipartUpload", "uploads/a.mp4", true},
		{"s3: prefix on the event name is accepted", uploads, "s3:ObjectCreated:Copy", "uploads/a.mp4", true},
		{"another event family", uploads, "ObjectRemoved:Delete", "uploads/a.mp4", false},
		{"prefix must match", uploads, "ObjectCreated:Put", "other/a.mp4", false},
		{"prefix is case-sensitive", uploads, "ObjectCreated:Put", "Uploads/a.mp4", false},
		{"exact event", jpegs, "ObjectCreated:Put", "images/cat.jpg", true},
		{"exact event excludes siblings", jpegs, "ObjectCreated:Post", "images/cat.jpg", false},
		{"second event type", jpegs, "ObjectRemoved:DeleteMarkerCreated", "images/cat.jpg", true},
		{"suffix must match", jpegs, "ObjectCreated:Put", "images/cat.png", false},
		{"suffix is case-sensitive", jpegs, "ObjectCreated:Put", "images/cat.JPG", false},
		{"no filter matches every key", everything, "ObjectCreated:Put", "any/key with spaces", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.n.Matches(tt.event, tt.key))
		})
	}
}
