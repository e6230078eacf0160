package media

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProbeGoodFiles(t *testing.T) {
	t.Parallel()

	t.Run("mp4 with video and audio", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		in := b.mp4(t, "in.mp4", "320x240", 2*time.Second)

		info, err := b.r.Probe(b.ctx, in, "video/mp4", Limits{})
		require.NoError(t, err)
		fi, err := os.Stat(in)
		require.NoError(t, err)
		require.Equal(t, "mov,mp4,m4a,3gp,3g2,mj2", info.Format)
		require.Equal(t, fi.Size(), info.SizeBytes)
		require.Positive(t, info.Bitrate)
		within(t, info.Duration, 2*time.Second, 50*time.Millisecond)
		require.Equal(t, 2, info.Streams)
		require.Equal(t, &VideoStream{Index: 0, Codec: "h264", Width: 320, Height: 240, FPS: 25}, info.Video)
		require.Equal(t, &AudioStream{Index: 1, Codec: "aac", SampleRate: 48000, Channels: 1}, info.Audio)
	})

	t.Run("mp3", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		in := b.audio(t, "in.mp3", 2*time.Second, "-c:a", "libmp3lame", "-b:a", "64k")

		info, err := b.r.Probe(b.ctx, in, "audio/mpeg", Limits{})
		require.NoError(t, err)
		require.Equal(t, "mp3", info.Format)
		within(t, info.Duration, 2*time.Second, 100*time.Millisecond)
		require.Nil(t, info.Video)
		require.Equal(t, &AudioStream{Index: 0, Codec: "mp3", SampleRate: 44100, Channels: 1}, info.Audio)
		require.Equal(t, 1, info.Streams)
	})

	t.Run("mp3 with cover art is audio", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		in := b.gen(t, "cover.mp3", "-f", "lavfi", "-i", "sine=r=44100", "-f", "lavfi", "-i", "color=s=64x64",
			"-map", "0", "-map", "1", "-t", "1", "-frames:v", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg",
			"-disposition:v", "attached_pic", "-id3v2_version", "3")

		info, err := b.r.Probe(b.ctx, in, "audio/mpeg", Limits{})
		require.NoError(t, err)
		require.Nil(t, info.Video, "cover art is not video")
		require.Equal(t, "mp3", info.Audio.Codec)
		require.Equal(t, 2, info.Streams)
	})

	t.Run("wav, content type with parameters", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		in := b.audio(t, "in.wav", 1500*time.Millisecond, "-ac", "2")

		info, err := b.r.Probe(b.ctx, in, "Audio/WAV; charset=binary", Limits{})
		require.NoError(t, err)
		require.Equal(t, "wav", info.Format)
		within(t, info.Duration, 1500*time.Millisecond, time.Millisecond)
		require.Equal(t, &AudioStream{Index: 0, Codec: "pcm_s16le", SampleRate: 44100, Channels: 2}, info.Audio)
	})

	t.Run("webm written to a pipe, as a browser records it", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		in := filepath.Join(b.dir, "in.webm")
		f, err := os.Create(in)
		require.NoError(t, err)
		cmd := exec.Command(b.r.FFmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=15",
			"-f", "lavfi", "-i", "sine=r=48000", "-t", "2", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
			"-c:a", "libopus", "-f", "webm", "pipe:1")
		cmd.Stdout = f
		require.NoError(t, cmd.Run())
		require.NoError(t, f.Close())

		info, err := b.r.Probe(b.ctx, in, "video/webm;codecs=vp8,opus", Limits{})
		require.NoError(t, err)
		require.Equal(t, "vp8", info.Video.Codec)
		require.Equal(t, "opus", info.Audio.Codec)
		within(t, info.Duration, 2*time.Second, 100*time.Millisecond)
	})
}

// TestMeasureDuration covers the path for files whose header has no
// duration: every packet is read, up to just past the limit.
func TestMeasureDuration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.audio(t, "in.ogg", 3*time.Second, "-c:a", "libopus")
	info := probeInfo{Info: Info{Audio: &AudioStream{Index: 0}}}

	d, err := b.r.measureDuration(b.ctx, in, formats["audio/ogg"], info, time.Hour)
	require.NoError(t, err)
	within(t, d, 3*time.Second, 30*time.Millisecond)

	d, err = b.r.measureDuration(b.ctx, in, formats["audio/ogg"], info, time.Second)
	require.NoError(t, err)
	within(t, d, 2*time.Second, 30*time.Millisecond) // stops at limit + 1 s
}

func TestDuration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.audio(t, "in.wav", 1250*time.Millisecond)
	d, err := b.r.Duration(b.ctx, in)
	require.NoError(t, err)
	within(t, d, 1250*time.Millisecond, time.Millisecond)

	_, err = b.r.Duration(b.ctx, b.write(t, "text.wav", []byte("not audio")))
	var ee *ExecError
	require.ErrorAs(t, err, &ee)
}

func TestInfoJSON(t *testing.T) {
	t.Parallel()
	info := Info{
		Format: "mov,mp4,m4a,3gp,3g2,mj2", FormatName: "QuickTime / MOV",
		Duration: 2500 * time.Millisecond, SizeBytes: 1234, Bitrate: 3948,
		Video:   &VideoStream{Index: 0, Codec: "h264", Width: 1280, Height: 720, FPS: 29.97, Rotation: -90},
		Audio:   &AudioStream{Index: 1, Codec: "aac", SampleRate: 48000, Channels: 2},
		Streams: 3,
	}
	got, err := json.Marshal(info)
	require.NoError(t, err)
	want, err := os.ReadFile("testdata/info.json")
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))

	var back Info
	require.NoError(t, json.Unmarshal(got, &back))
	require.Equal(t, info, back)
}

func TestContentTypes(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"video/mp4": "mov", "video/quicktime": "mov", "video/webm": "matroska", "audio/webm": "matroska",
		"video/x-matroska": "matroska", "audio/mpeg": "mp3", "audio/wav": "wav", "audio/x-wav": "wav",
		"audio/wave": "wav", "audio/mp4": "mov", "audio/m4a": "mov", "audio/x-m4a": "mov", "audio/aac": "aac",
		"audio/ogg": "ogg", "audio/flac": "flac", "video/x-msvideo": "avi", "video/mpeg": "mpeg",
	}
	for ct, demuxer := range want {
		got, err := lookupFormat(ct)
		require.NoError(t, err, ct)
		require.Equal(t, demuxer, got.demuxer, ct)
	}
	// Only demuxers that never open another file or URL.
	safe := map[string]bool{"mov": true, "matroska": true, "mp3": true, "wav": true, "aac": true, "ogg": true, "flac": true, "avi": true, "mpeg": true}
	for _, ct := range ContentTypes() {
		f, err := lookupFormat(ct)
		require.NoError(t, err)
		require.True(t, safe[f.demuxer], "%s -> %s", ct, f.demuxer)
	}
}

// TestProbeEveryFormat makes a small file of each mapped kind and checks
// that Probe, decode check included, accepts it: no false rejections.
func TestProbeEveryFormat(t *testing.T) {
	t.Parallel()
	video := []string{"-f", "lavfi", "-i", "testsrc2=s=160x120:r=15", "-f", "lavfi", "-i", "sine=r=44100", "-t", "3"}
	audio := []string{"-f", "lavfi", "-i", "sine=r=44100", "-t", "3"}
	cases := []struct {
		contentType, name string
		args              []string
	}{
		{"video/quicktime", "in.mov", slices.Concat(video, []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"})},
		{"video/x-matroska", "in.mkv", slices.Concat(video, []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"})},
		{"video/x-msvideo", "in.avi", slices.Concat(video, []string{"-c:v", "mpeg4", "-c:a", "libmp3lame"})},
		{"video/mpeg", "in.mpg", slices.Concat(video, []string{"-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob"})},
		{"video/ogg", "in.ogv", slices.Concat(video, []string{"-c:v", "libtheora", "-c:a", "libvorbis"})},
		{"video/3gpp", "in.3gp", slices.Concat(video, []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ar", "16000"})},
		{"audio/mp4", "in.m4a", slices.Concat(audio, []string{"-c:a", "aac"})},
		{"audio/aac", "in.aac", slices.Concat(audio, []string{"-c:a", "aac", "-f", "adts"})},
		{"audio/ogg", "in.ogg", slices.Concat(audio, []string{"-c:a", "libvorbis"})},
		{"audio/opus", "in.opus", slices.Concat(audio, []string{"-c:a", "libopus"})},
		{"audio/flac", "in.flac", slices.Concat(audio, []string{"-c:a", "flac"})},
		{"audio/webm", "in.weba", slices.Concat(audio, []string{"-c:a", "libopus", "-f", "webm"})},
	}
	for _, c := range cases {
		t.Run(c.contentType, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			in := b.gen(t, c.name, c.args...)
			info, err := b.r.Probe(b.ctx, in, c.contentType, Limits{})
			require.NoError(t, err)
			within(t, info.Duration, 3*time.Second, 150*time.Millisecond)
			require.NotNil(t, info.Audio)
		})
	}
}

// TestCodecOutsideTheList uploads a sound WAV whose codec (Microsoft ADPCM)
// is not in the codec table: Probe refuses it with a reason that names the
// codec, and FFmpeg itself refuses to decode it (-codec_whitelist) when a
// caller skips Probe's check.
func TestCodecOutsideTheList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pcm := b.audio(t, "pcm.wav", time.Second, "-c:a", "pcm_s16le")
	_, err := b.r.Probe(b.ctx, pcm, "audio/wav", Limits{})
	require.NoError(t, err, "the same sound in a listed codec passes")

	adpcm := b.audio(t, "adpcm.wav", time.Second, "-c:a", "adpcm_ms")
	_, err = b.r.Probe(b.ctx, adpcm, "audio/wav", Limits{})
	var re *RejectError
	require.ErrorAs(t, err, &re)
	require.Contains(t, re.Reason, "adpcm_ms")
	require.Contains(t, re.Reason, "not supported")

	info := Info{Duration: time.Second, Audio: &AudioStream{Index: 0, Codec: "adpcm_ms", SampleRate: 44100, Channels: 1}}
	_, err = b.r.Transcode(b.ctx, adpcm, "audio/wav", info, filepath.Join(b.dir, "out"), RunOptions{})
	var ee *ExecError
	require.ErrorAs(t, err, &ee)
	require.Contains(t, ee.StderrTail, "not on whitelist")
}

// TestDurationLimitEdge probes sources at the duration limit and just past
// it: the default (4 h, config.MaxMediaDuration) and a lower one, as
// MEDIA_MAX_SECONDS sets it. FLAC codes silence as one constant per block,
// so 4 h at 1 kHz is a few kilobytes, made in well under a second.
func TestDurationLimitEdge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	silence := func(name string, d time.Duration) string {
		return b.gen(t, name, "-f", "lavfi", "-i", "anullsrc=r=1000:cl=mono", "-t", seconds(d),
			"-c:a", "flac", "-frame_size", "65535")
	}
	rejected := func(t *testing.T, in string, l Limits, reason string) {
		t.Helper()
		_, err := b.r.Probe(b.ctx, in, "audio/flac", l)
		var re *RejectError
		require.ErrorAs(t, err, &re)
		require.Equal(t, reason, re.Reason)
	}

	t.Run("4 hours, the default limit", func(t *testing.T) {
		t.Parallel()
		info, err := b.r.Probe(b.ctx, silence("4h.flac", 4*time.Hour), "audio/flac", Limits{})
		require.NoError(t, err)
		require.Equal(t, 4*time.Hour, info.Duration)
		rejected(t, silence("4h1s.flac", 4*time.Hour+time.Second), Limits{},
			"the audio is 4h0m1s long; the limit is 4h0m0s")
	})

	t.Run("a lower limit", func(t *testing.T) {
		t.Parallel()
		in := b.audio(t, "3s.wav", 3*time.Second)
		info, err := b.r.Probe(b.ctx, in, "audio/wav", Limits{MaxDuration: 3 * time.Second})
		require.NoError(t, err)
		within(t, info.Duration, 3*time.Second, time.Millisecond)
		_, err = b.r.Probe(b.ctx, in, "audio/wav", Limits{MaxDuration: 2 * time.Second})
		var re *RejectError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "the audio is 3s long; the limit is 2s", re.Reason)
	})
}
