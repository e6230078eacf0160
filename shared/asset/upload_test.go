package asset_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/media"
)

// The upload API accepts exactly the content types ingest and every recipe
// can read (media's table), and names them when it refuses one.
func TestUploadsAcceptTheFormatsThePipelineReads(t *testing.T) {
	t.Parallel()
	s := &asset.Service{MaxBytes: 1 << 30}
	for _, ct := range media.ContentTypes() {
		mt, _, _, err := s.Validate(asset.UploadRequest{Filename: "clip", ContentType: ct, SizeBytes: 10})
		require.NoError(t, err, ct)
		require.Equal(t, ct, mt)
	}
	_, _, _, err := s.Validate(asset.UploadRequest{Filename: "clip.xyz", ContentType: "video/x-made-up", SizeBytes: 10})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	e, _ := apperr.As(err)
	require.Equal(t, "content_type", e.Field)
	require.Contains(t, e.Message, "video/webm", "the refusal names what is supported")
}
