package storage

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
)

func TestUploadKey(t *testing.T) {
	t.Parallel()
	user := uuid.MustParse("6f1c2f4e-8a53-4d5e-9d55-0b7a1f3c9e21")
	asset := uuid.MustParse("0a9e3b7c-1d2f-4e5a-8b6c-7d8e9f0a1b2c")
	base := "uploads/6f1c2f4e-8a53-4d5e-9d55-0b7a1f3c9e21/0a9e3b7c-1d2f-4e5a-8b6c-7d8e9f0a1b2c/source"
	for _, tt := range []struct{ filename, ext string }{
		{"clip.mp4", ".mp4"},
		{"Clip.MOV", ".mov"},
		{"archive.tar.gz", ".gz"},
		{"README", ""},
		{"", ""},
		{"trailing.", ""},
		{".mp4", ".mp4"},
		{"../../etc/passwd", ""},
		{"dir.d/file", ""},
		{`dir.d\file`, ""},
		{"x.m p-4", ".mp4"},
		{"x.mp4/../../y", ""},
		{"x.abcdefghijkl", ".abcdefgh"},
		{"x.mp4\u202e", ".mp4"},
		{"vidéo.MKV", ".mkv"},
		{"x.ÉÉÉ", ""},
		{"x.mp4?a=b", ".mp4ab"},
	} {
		t.Run(tt.filename, func(t *testing.T) {
			t.Parallel()
			key := UploadKey(user, asset, tt.filename)
			require.Equal(t, base+tt.ext, key)

			gotUser, gotAsset, err := ParseUploadKey(key)
			require.NoError(t, err, "round trip")
			require.Equal(t, user, gotUser)
			require.Equal(t, asset, gotAsset)
		})
	}
	require.True(t, strings.HasPrefix(UploadKey(user, asset, "a.mp4"), UploadPrefix(user, asset)))
}

func TestParseUploadKeyRejectsTricks(t *testing.T) {
	t.Parallel()
	const (
		u = "6f1c2f4e-8a53-4d5e-9d55-0b7a1f3c9e21"
		a = "0a9e3b7c-1d2f-4e5a-8b6c-7d8e9f0a1b2c"
	)
	for _, key := range []string{
		"",
		"uploads/" + u + "/" + a,
		"uploads/" + u + "/" + a + "/",
		"uploads/" + u + "/" + a + "/other.mp4",
		"uploads/" + u + "/" + a + "/source.mp4/x",
		"uploads/" + u + "/" + a + "/../source.mp4",
		"uploads/" + u + "/../" + a + "/source.mp4",
		"uploads/" + u + "/x/" + a + "/source.mp4",
		"/uploads/" + u + "/" + a + "/source.mp4",
		"uploads//" + u + "/" + a + "/source.mp4",
		"jobs/" + u + "/" + a + "/source.mp4",
		"Uploads/" + u + "/" + a + "/source.mp4",
		"uploads/" + u + "/" + a + "/source.MP4",
		"uploads/" + u + "/" + a + "/source.",
		"uploads/" + u + "/" + a + "/source.m p4",
		"uploads/" + u + "/" + a + "/source.abcdefghi",
		"uploads/" + u + "/" + a + "/source.mp4.exe",
		"uploads/" + u + "/" + a + "/sourcemp4",
		"uploads/" + u + "/" + a + "/source..mp4",
		"uploads/not-a-uuid/" + a + "/source.mp4",
		"uploads/" + u + "/" + a[:35] + "/source.mp4",
		"uploads/" + strings.ToUpper(u) + "/" + a + "/source.mp4",
		"uploads/{" + u + "}/" + a + "/source.mp4",
		"uploads/urn:uuid:" + u + "/" + a + "/source.mp4",
		"uploads/" + strings.ReplaceAll(u, "-", "") + "/" + a + "/source.mp4",
		"uploads/" + uuid.Nil.String() + "/" + a + "/source.mp4",
		"uploads/" + u + "/" + uuid.Nil.String() + "/source.mp4",
	} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			user, asset, err := ParseUploadKey(key)
			requireCode(t, apperr.Invalid, err)
			require.True(t, errors.Is(err, ErrNotUploadKey))
			require.Equal(t, uuid.Nil, user)
			require.Equal(t, uuid.Nil, asset)
		})
	}
}

func TestJobKey(t *testing.T) {
	t.Parallel()
	job := uuid.MustParse("7b0e6c1a-3f2d-4c8b-9a1e-5d4c3b2a1f0e")
	require.Equal(t, "jobs/7b0e6c1a-3f2d-4c8b-9a1e-5d4c3b2a1f0e/transcode/output.mp4", JobKey(job, "transcode", "output.mp4"))
	require.Equal(t, "jobs/7b0e6c1a-3f2d-4c8b-9a1e-5d4c3b2a1f0e/transcode/renditions/720p.mp4", JobKey(job, "transcode", "renditions/720p.mp4"))
	require.Equal(t, "jobs/7b0e6c1a-3f2d-4c8b-9a1e-5d4c3b2a1f0e/", JobPrefix(job))
	require.True(t, strings.HasPrefix(JobKey(job, "mix", "x"), JobPrefix(job)))
}
