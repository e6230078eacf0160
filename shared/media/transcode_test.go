package media

import (
	"encoding/binary"
	"image/jpeg"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTranscodeVideo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.mp4(t, "in.mp4", "640x360", 2*time.Second)
	info, err := b.r.Probe(b.ctx, in, "video/mp4", Limits{})
	require.NoError(t, err)

	var mu sync.Mutex
	var progress []float64
	out := filepath.Join(b.dir, "out")
	rend, err := b.r.Transcode(b.ctx, in, "video/mp4", info, out, RunOptions{
		Timeout: time.Minute,
		OnProgress: func(p float64) {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, p)
		},
	})
	require.NoError(t, err)
	require.Equal(t, Renditions{
		MP4:    filepath.Join(out, MP4Name),
		Poster: filepath.Join(out, PosterName),
		WAV:    filepath.Join(out, WAVName),
	}, rend)

	mp4 := b.ffprobe(t, rend.MP4)
	require.Len(t, mp4.Streams, 2)
	require.Equal(t, "h264", mp4.Streams[0].CodecName)
	require.Equal(t, 640, mp4.Streams[0].Width)
	require.Equal(t, 360, mp4.Streams[0].Height)
	require.Equal(t, "yuv420p", mp4.Streams[0].PixFmt)
	require.Equal(t, "aac", mp4.Streams[1].CodecName)
	within(t, mp4.duration(t), 2*time.Second, 100*time.Millisecond)
	boxes := topBoxes(t, rend.MP4)
	require.Less(t, indexOf(boxes, "moov"), indexOf(boxes, "mdat"), "faststart: moov before mdat, got %v", boxes)

	f, err := os.Open(rend.Poster)
	require.NoError(t, err)
	defer f.Close()
	img, err := jpeg.Decode(f)
	require.NoError(t, err)
	require.Equal(t, 640, img.Bounds().Dx())
	require.Equal(t, 360, img.Bounds().Dy())

	wav := b.ffprobe(t, rend.WAV)
	require.Len(t, wav.Streams, 1)
	require.Equal(t, "pcm_s16le", wav.Streams[0].CodecName)
	require.Equal(t, "16000", wav.Streams[0].SampleRate)
	require.Equal(t, 1, wav.Streams[0].Channels)
	within(t, wav.duration(t), 2*time.Second, 30*time.Millisecond)
	raw, err := os.ReadFile(rend.WAV)
	require.NoError(t, err)
	require.Equal(t, "data", string(raw[36:40]), "a plain 44-byte header, no encoder tag")

	mu.Lock()
	defer mu.Unlock()
	t.Logf("progress: %.1f", progress)
	require.NotEmpty(t, progress)
	require.InDelta(t, 100, progress[len(progress)-1], 0.001)
	for i := 1; i < len(progress); i++ {
		require.Greater(t, progress[i], progress[i-1], "progress only grows: %v", progress)
	}
}

func TestTranscodeScalesTo720p(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		size  string
		w, h  int
		extra []string
	}{
		"1080p":             {"1920x1080", 1280, 720, nil},
		"upright 1080x1920": {"1080x1920", 720, 1280, nil},
		"odd sizes":         {"855x481", 854, 480, []string{"-c:v", "mjpeg", "-pix_fmt", "yuvj420p"}}, // H.264 needs even sizes
		"4:3 at 1600x1200":  {"1600x1200", 960, 720, nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			in := b.mp4(t, "in.mp4", c.size, 500*time.Millisecond, c.extra...)
			info, err := b.r.Probe(b.ctx, in, "video/mp4", Limits{})
			require.NoError(t, err)
			rend, err := b.r.Transcode(b.ctx, in, "video/mp4", info, b.dir, RunOptions{})
			require.NoError(t, err)
			v := b.ffprobe(t, rend.MP4).Streams[0]
			require.Equal(t, [2]int{c.w, c.h}, [2]int{v.Width, v.Height})

			f, err := os.Open(rend.Poster)
			require.NoError(t, err)
			defer f.Close()
			img, err := jpeg.DecodeConfig(f)
			require.NoError(t, err)
			require.LessOrEqual(t, img.Width, posterWidth)
		})
	}
}

func TestTranscodeAudioOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.audio(t, "in.mp3", 1500*time.Millisecond, "-ac", "2", "-c:a", "libmp3lame")
	info, err := b.r.Probe(b.ctx, in, "audio/mpeg", Limits{})
	require.NoError(t, err)

	rend, err := b.r.Transcode(b.ctx, in, "audio/mpeg", info, b.dir, RunOptions{})
	require.NoError(t, err)
	require.Empty(t, rend.MP4)
	require.Empty(t, rend.Poster)
	require.NoFileExists(t, filepath.Join(b.dir, MP4Name))
	require.NoFileExists(t, filepath.Join(b.dir, PosterName))

	wav := b.ffprobe(t, rend.WAV)
	require.Equal(t, "pcm_s16le", wav.Streams[0].CodecName)
	require.Equal(t, 1, wav.Streams[0].Channels)
	within(t, wav.duration(t), 1500*time.Millisecond, 60*time.Millisecond)

	m4a := b.ffprobe(t, rend.M4A)
	require.Len(t, m4a.Streams, 1)
	require.Equal(t, "aac", m4a.Streams[0].CodecName)
	require.Equal(t, 2, m4a.Streams[0].Channels)
	boxes := topBoxes(t, rend.M4A)
	require.Less(t, indexOf(boxes, "moov"), indexOf(boxes, "mdat"), "faststart: %v", boxes)
}

func TestTranscodeCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.mp4(t, "in.mp4", "160x120", time.Second)
	info, err := b.r.Probe(b.ctx, in, "video/mp4", Limits{})
	require.NoError(t, err)
	_, err = b.r.Transcode(b.ctx, in, "video/mp4", info, b.dir, RunOptions{Cancel: func() bool { return true }})
	require.ErrorIs(t, err, ErrCanceled)
}

func TestExtractWAV(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.mp4(t, "in.mp4", "160x120", time.Second)
	out := filepath.Join(b.dir, "speech.wav")
	require.NoError(t, b.r.ExtractWAV(b.ctx, in, "video/mp4", out, RunOptions{}))
	wav := b.ffprobe(t, out)
	require.Equal(t, "16000", wav.Streams[0].SampleRate)
	require.Equal(t, 1, wav.Streams[0].Channels)
	within(t, wav.duration(t), time.Second, 30*time.Millisecond)
}

// topBoxes lists an MP4's top-level box types in file order.
func topBoxes(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var boxes []string
	for off := 0; off+8 <= len(data); {
		size := int(binary.BigEndian.Uint32(data[off:]))
		boxes = append(boxes, string(data[off+4:off+8]))
		if size == 1 {
			size = int(binary.BigEndian.Uint64(data[off+8:]))
		}
		require.GreaterOrEqual(t, size, 8, "box %q", boxes[len(boxes)-1])
		off += size
	}
	return boxes
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return len(s) + 1
}
