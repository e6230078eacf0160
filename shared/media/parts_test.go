package media

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/media/syncmark"
)

// packets counts the packets of a file's first stream of kind (v or a).
func (b bundle) packets(t *testing.T, path, kind string) int {
	t.Helper()
	out, err := exec.Command(b.r.FFprobe, "-v", "error", "-select_streams", kind+":0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).Output()
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	return n
}

// streamLength is the duration ffprobe gives a file's first stream of kind.
func (b bundle) streamLength(t *testing.T, path, kind string) time.Duration {
	t.Helper()
	out, err := exec.Command(b.r.FFprobe, "-v", "error", "-select_streams", kind+":0", "-show_entries", "stream=duration",
		"-of", "csv=p=0", path).Output()
	require.NoError(t, err)
	f, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	require.NoError(t, err)
	return time.Duration(f * float64(time.Second))
}

func TestTranscodeInPartsKeepsEveryFrameAndTheSync(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := filepath.Join(b.dir, "marks.mp4")
	const length = 70 * time.Second
	require.NoError(t, syncmark.Source(b.ctx, b.r.FFmpeg, in, "320x180", length, 10*time.Second))
	info, err := b.r.Probe(b.ctx, in, "video/mp4", Limits{})
	require.NoError(t, err)

	// Parts of 30 s: two full ones and the rest; the cuts fall on a flash.
	var parts []string
	for i, start := range []time.Duration{0, 30 * time.Second, 60 * time.Second} {
		part := 30 * time.Second
		if i == 2 {
			part = 0
		}
		out := filepath.Join(b.dir, "parts", PartName(i+1))
		require.NoError(t, b.r.TranscodePart(b.ctx, in, "video/mp4", info, start, part, out, RunOptions{Timeout: time.Minute}))
		parts = append(parts, out)
	}
	rend, err := b.r.JoinParts(b.ctx, parts, in, "video/mp4", info, filepath.Join(b.dir, "out"), RunOptions{Timeout: time.Minute})
	require.NoError(t, err)
	require.NotEmpty(t, rend.Poster)
	require.NotEmpty(t, rend.WAV)

	require.Equal(t, b.packets(t, in, "v"), b.packets(t, rend.MP4, "v"), "every frame once")
	within(t, b.streamLength(t, rend.MP4, "v"), b.streamLength(t, in, "v"), 100*time.Millisecond)
	within(t, b.streamLength(t, rend.MP4, "a"), b.streamLength(t, in, "a"), 100*time.Millisecond)

	flashes, err := syncmark.Flashes(b.ctx, b.r.FFmpeg, rend.MP4)
	require.NoError(t, err)
	beeps, err := syncmark.Beeps(b.ctx, b.r.FFmpeg, rend.MP4)
	require.NoError(t, err)
	t.Logf("flashes %v, beeps %v", flashes, beeps)
	require.Len(t, flashes, 7)
	require.Len(t, beeps, 7)
	for at := time.Duration(0); at < length; at += 10 * time.Second {
		d, ok := syncmark.Drift(flashes, beeps, at)
		require.True(t, ok, "the mark at %s", at)
		require.LessOrEqual(t, d.Abs(), 40*time.Millisecond, "drift at %s", at)
	}
}
