package mix_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/mix"
)

// limitedFFmpeg wraps ffmpeg in a script that runs it under ulimit -n
// files and appends the number of its inputs to the returned log.
func limitedFFmpeg(t *testing.T, b bundle, files int) (*media.Runner, string) {
	t.Helper()
	log := filepath.Join(b.dir, "inputs.log")
	wrapper := filepath.Join(b.dir, "ffmpeg")
	script := fmt.Sprintf("#!/bin/bash\nn=0\nfor a in \"$@\"; do [ \"$a\" = -i ] && n=$((n+1)); done\necho $n >> %q\nulimit -n %d\nexec %q \"$@\"\n",
		log, files, b.runner.FFmpeg)
	require.NoError(t, os.WriteFile(wrapper, []byte(script), 0o700))
	return &media.Runner{FFmpeg: wrapper, FFprobe: b.runner.FFprobe}, log
}

// TestMixManyClips mixes 300 clips, more than one FFmpeg process may open
// (mix.MaxClipInputs), under ulimit -n 128, where opening them all at once
// fails: no run gets more inputs than the bound, and every clip is heard in
// its slot, with silence between.
func TestMixManyClips(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 300
	step := 0.3
	length := 0.5 + step*n + 1
	original := filepath.Join(b.dir, "silence.m4a")
	b.ffmpeg(t, "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", strconv.FormatFloat(length, 'f', 1, 64), "-c:a", "aac", original)
	short, long := filepath.Join(b.dir, "short.wav"), filepath.Join(b.dir, "long.mp3")
	b.ffmpeg(t, "-f", "lavfi", "-i", "sine=f=1000:r=24000:d=0.1", short)
	b.ffmpeg(t, "-f", "lavfi", "-i", "sine=f=600:r=44100:d=0.25", "-c:a", "libmp3lame", long)

	var clips []mix.Clip
	for i := range n {
		start := 0.5 + step*float64(i)
		c := mix.Clip{Start: start, End: start + 0.2, Path: short, Duration: 0.1}
		if i%5 == 4 {
			c.Path, c.Duration = long, 0 // probed; sped up and cut to the slot
		}
		clips = append(clips, c)
	}
	r, log := limitedFFmpeg(t, b, 128)
	out := filepath.Join(b.dir, "many.m4a")
	res, err := mix.Mix(t.Context(), r, mix.Input{Original: original, OriginalType: "audio/mp4", Clips: clips, Out: out},
		media.RunOptions{})
	require.NoError(t, err)
	require.InDelta(t, length, res.Duration, 0.1)

	data, err := os.ReadFile(log)
	require.NoError(t, err)
	runs := strings.Fields(string(data))
	require.Greater(t, len(runs), 1, "the clips are mixed in batches first")
	for _, s := range runs {
		k, err := strconv.Atoi(s)
		require.NoError(t, err)
		require.LessOrEqual(t, k, mix.MaxClipInputs+4, "inputs of one run: the clips and at most 4 more")
	}

	got := b.probe(t, out)
	require.Equal(t, 1, got.count("audio"))
	require.InDelta(t, length, got.Streams[0].Duration, 0.1)

	levels := b.levels(t, out)
	for i, c := range clips {
		require.Greater(t, mean(levels, c.Start+0.02, c.Start+0.08), -40.0, "clip %d heard at %.2f s", i, c.Start)
		require.Less(t, mean(levels, c.Start+0.22, c.Start+0.28), -60.0, "silence after clip %d", i)
	}
	require.Less(t, mean(levels, 0, 0.45), -60.0, "silence before the first clip")
}
