package media

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSplitWAV(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.audio(t, "in.wav", 10*time.Second, "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le")
	orig, err := b.r.Duration(b.ctx, in)
	require.NoError(t, err)

	const maxBytes = 100_000
	chunks, err := SplitWAV(b.ctx, in, b.dir+"/chunks", maxBytes)
	require.NoError(t, err)
	require.Len(t, chunks, 4) // 320 KB of samples in pieces under 100 KB

	var samples []byte
	var sum time.Duration
	for i, c := range chunks {
		fi, err := os.Stat(c.Path)
		require.NoError(t, err)
		require.LessOrEqual(t, fi.Size(), int64(maxBytes), c.Path)
		require.Equal(t, sum, c.Start, "piece %d starts where the previous ones end", i)

		d, err := b.r.Duration(b.ctx, c.Path) // FFmpeg reads every piece
		require.NoError(t, err)
		require.Equal(t, c.Duration, d)
		require.Zero(t, c.Duration%(10*time.Millisecond), "cut on a 10 ms boundary")
		sum += d

		data, err := os.ReadFile(c.Path)
		require.NoError(t, err)
		samples = append(samples, data[44:]...)
	}
	require.Equal(t, orig, sum)

	data, err := os.ReadFile(in)
	require.NoError(t, err)
	w, err := readWAVHeader(mustOpen(t, in))
	require.NoError(t, err)
	require.True(t, bytes.Equal(data[w.dataOff:w.dataOff+w.dataLen], samples), "the pieces hold the original samples")
}

func TestSplitWAVSmallFileAndErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// 8-bit stereo at 8 kHz, with FFmpeg's LIST chunk before the data.
	in := b.audio(t, "in.wav", time.Second, "-ac", "2", "-ar", "8000", "-c:a", "pcm_u8")

	chunks, err := SplitWAV(b.ctx, in, b.dir+"/one", 1<<20)
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	require.Equal(t, time.Second, chunks[0].Duration)

	_, err = SplitWAV(b.ctx, in, b.dir+"/tiny", 40)
	require.ErrorContains(t, err, "cannot hold")

	_, err = SplitWAV(b.ctx, b.write(t, "text.wav", []byte("RIFF not really")), b.dir+"/x", 1<<20)
	require.ErrorContains(t, err, "not a RIFF WAVE file")
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}
