package mix_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/mix"
)

// TestMixInParts renders a 20 s video in three parts, one boundary inside
// a clip's slot, and merges them: the same streams and length as the whole
// mix, the target loudness, and no level jump at either boundary.
func TestMixInParts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	original := filepath.Join(b.dir, "original.mp4")
	b.ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=d=20:s=160x90:r=25", "-f", "lavfi", "-i", "sine=f=220:d=20:r=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", original)
	steady := filepath.Join(b.dir, "steady.wav")
	b.ffmpeg(t, "-f", "lavfi", "-i", "sine=f=440:r=24000:d=4", "-af", "volume=0.5", steady)
	word := b.speak(t, "word", "Hello there.")
	word.Start, word.End = 15, 17
	clips := []mix.Clip{{Start: 5, End: 9, Path: steady, Duration: 4}, word}
	srt := b.srt(t, []captions.Segment{{Start: 5, End: 9, Text: "Steady."}, {ID: 1, Start: 15, End: 17, Text: "Hello there."}})
	in := mix.Input{Original: original, OriginalType: "video/mp4", HasVideo: true, Clips: clips, Captions: srt, Language: "es"}

	whole := in
	whole.Out = filepath.Join(b.dir, "whole.mp4")
	wres, err := mix.Mix(t.Context(), b.runner, whole, media.RunOptions{})
	require.NoError(t, err)

	bounds := []time.Duration{0, 7 * time.Second, 14 * time.Second, 20 * time.Second}
	var parts []string
	var loud []mix.Loudness
	for i := range len(bounds) - 1 {
		out := filepath.Join(b.dir, fmt.Sprintf("part-%d.wav", i))
		l, err := mix.RenderPart(t.Context(), b.runner, in, bounds[i], bounds[i+1], out, media.RunOptions{})
		require.NoError(t, err)
		require.InDelta(t, (bounds[i+1] - bounds[i]).Seconds(), b.probe(t, out).Format.Duration, 0.001, "part %d: exactly its range", i)
		require.Len(t, l.Blocks, int((bounds[i+1]-bounds[i])/(100*time.Millisecond)))
		parts, loud = append(parts, out), append(loud, l)
	}
	merged := in
	merged.Out = filepath.Join(b.dir, "merged.mp4")
	mres, err := mix.MergeParts(t.Context(), b.runner, merged, parts, loud, media.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, wres.Tempos, mres.Tempos)
	require.InDelta(t, wres.Duration, mres.Duration, 0.05, "as long as the whole mix")

	w, m := b.probe(t, whole.Out), b.probe(t, merged.Out)
	require.Len(t, m.Streams, len(w.Streams))
	for i := range w.Streams {
		require.Equal(t, w.Streams[i].CodecType, m.Streams[i].CodecType)
		require.Equal(t, w.Streams[i].CodecName, m.Streams[i].CodecName)
		require.Equal(t, w.Streams[i].Tags.Language, m.Streams[i].Tags.Language)
		require.InDelta(t, w.Streams[i].Duration, m.Streams[i].Duration, 0.05, "stream %d", i)
	}
	lufs := b.loudness(t, merged.Out)
	t.Logf("merged: %.1f LUFS, whole: %.1f LUFS", lufs, b.loudness(t, whole.Out))
	require.InDelta(t, -16, lufs, 1.5)

	// The steady clip runs across 7 s (over the ducked tone), the plain tone
	// across 14 s: the level either side of each boundary is the same.
	levels := b.levels(t, merged.Out)
	for _, at := range []float64{7, 14} {
		before, after := mean(levels, at-0.2, at), mean(levels, at, at+0.2)
		t.Logf("at %.0f s: %.2f dB before, %.2f dB after", at, before, after)
		require.Less(t, math.Abs(before-after), 1.0, "no level jump at %.0f s", at)
	}
	require.Greater(t, mean(levels, 6.5, 7.5), mean(levels, 1, 2)-6, "the clip is heard across the boundary")
}
