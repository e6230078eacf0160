package mix_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/mix"
)

// bundle is what every test needs: a runner, a directory, the tools.
type bundle struct {
	runner *media.Runner
	dir    string
	espeak string
}

func setup(t *testing.T) bundle {
	t.Helper()
	r, err := media.NewRunner(os.Getenv)
	if err != nil {
		t.Skipf("ffmpeg not available: %v", err)
	}
	espeak, err := exec.LookPath("espeak-ng")
	if err != nil {
		t.Skip("espeak-ng not installed (bash scripts/deps.sh espeak-ng)")
	}
	return bundle{runner: r, dir: t.TempDir(), espeak: espeak}
}

// ffmpeg runs ffmpeg directly (fixtures and measurements) and returns its
// stderr.
func (b bundle) ffmpeg(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), b.runner.FFmpeg, append([]string{"-nostdin", "-hide_banner", "-nostats", "-y"}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg %v:\n%s", args, out)
	return string(out)
}

// video makes a 6 s testsrc2 video; with tone, a 220 Hz sine stands in for
// the original speech, else it has no sound.
func (b bundle) video(t *testing.T, tone bool) string {
	t.Helper()
	out := filepath.Join(b.dir, "original.mp4")
	args := []string{"-f", "lavfi", "-i", "testsrc2=d=6:s=320x240:r=25"}
	if tone {
		args = append(args, "-f", "lavfi", "-i", "sine=f=220:d=6:r=48000", "-c:a", "aac")
	}
	b.ffmpeg(t, append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", out)...)
	return out
}

// silentVideo makes a 6 s video whose audio track is digital silence, so
// the output holds the new voice alone.
func (b bundle) silentVideo(t *testing.T) string {
	t.Helper()
	out := filepath.Join(b.dir, "silent.mp4")
	b.ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=d=6:s=320x240:r=25", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
		"-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", out)
	return out
}

// speak synthesizes text with espeak-ng and returns the WAV and its length.
func (b bundle) speak(t *testing.T, name, text string) mix.Clip {
	t.Helper()
	path := filepath.Join(b.dir, name+".wav")
	out, err := exec.CommandContext(t.Context(), b.espeak, "-w", path, text).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return mix.Clip{Path: path, Duration: b.probe(t, path).Format.Duration}
}

func (b bundle) srt(t *testing.T, segs []captions.Segment) string {
	t.Helper()
	path := filepath.Join(b.dir, "captions.srt")
	require.NoError(t, os.WriteFile(path, captions.SRT(segs), 0o600))
	return path
}

type probed struct {
	Streams []struct {
		CodecType string  `json:"codec_type"`
		CodecName string  `json:"codec_name"`
		Width     int     `json:"width"`
		Height    int     `json:"height"`
		Duration  float64 `json:"duration,string"`
		Tags      struct {
			Language string `json:"language"`
		} `json:"tags"`
	} `json:"streams"`
	Format struct {
		Duration float64 `json:"duration,string"`
	} `json:"format"`
}

func (p probed) count(kind string) int {
	n := 0
	for _, s := range p.Streams {
		if s.CodecType == kind {
			n++
		}
	}
	return n
}

func (b bundle) probe(t *testing.T, path string) probed {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), b.runner.FFprobe, "-v", "error", "-show_streams", "-show_format",
		"-of", "json", path).Output()
	require.NoError(t, err)
	var p probed
	require.NoError(t, json.Unmarshal(out, &p))
	return p
}

var integrated = regexp.MustCompile(`Integrated loudness:\s+I:\s+(-?[0-9.]+) LUFS`)

// loudness measures integrated loudness with FFmpeg's ebur128 filter.
func (b bundle) loudness(t *testing.T, path string) float64 {
	t.Helper()
	m := integrated.FindStringSubmatch(b.ffmpeg(t, "-i", path, "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"))
	require.NotNil(t, m, "no ebur128 summary")
	lufs, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return lufs
}

// levels decodes the audio to mono and returns its RMS level in dBFS over
// consecutive 10 ms windows.
func (b bundle) levels(t *testing.T, path string) []float64 {
	t.Helper()
	pcm := filepath.Join(b.dir, "levels.raw")
	b.ffmpeg(t, "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "f32le", pcm)
	data, err := os.ReadFile(pcm)
	require.NoError(t, err)
	const window = 480
	var out []float64
	for i := 0; i+window*4 <= len(data); i += window * 4 {
		var sum float64
		for j := range window {
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(data[i+j*4:])))
			sum += v * v
		}
		out = append(out, 10*math.Log10(sum/window+1e-20))
	}
	return out
}

// span returns the first and last 10 ms windows louder than -45 dBFS, in
// seconds (start of the first, end of the last).
func span(levels []float64) (from, to float64) {
	first, last := -1, -1
	for i, l := range levels {
		if l > -45 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return float64(first) / 100, float64(last+1) / 100
}

// mean is the mean level (dB) of the windows in [from, to) seconds.
func mean(levels []float64, from, to float64) float64 {
	var sum float64
	n := 0
	for i := int(from * 100); i < int(to*100) && i < len(levels); i++ {
		sum += levels[i]
		n++
	}
	return sum / float64(n)
}

func TestMixVideo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	original := b.video(t, true)
	long := b.speak(t, "long", "The quick brown fox jumps over the lazy dog.")
	long.Start, long.End = 0.5, 2.5
	short := b.speak(t, "short", "Hello.")
	short.Start, short.End = 3.5, 5.5
	require.Greater(t, long.Duration, 2*1.25, "the long clip needs more than the maximum tempo")
	require.Less(t, short.Duration, 2.0)
	segs := []captions.Segment{
		{ID: 0, Start: 0.5, End: 2.5, Text: "The quick brown fox <b>jumps</b>\nover the lazy dog."},
		{ID: 1, Start: 3.5, End: 5.5, Text: "Hello."},
	}
	out := filepath.Join(b.dir, "out.mp4")

	res, err := mix.Mix(t.Context(), b.runner, mix.Input{
		Original: original, OriginalType: "video/mp4",
		HasVideo: true,
		Clips:    []mix.Clip{long, short},
		Captions: b.srt(t, segs),
		Language: "en",
		Out:      out,
	}, media.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, out, res.Out)
	require.Equal(t, []float64{1.25, 1}, res.Tempos)
	require.InDelta(t, 6, res.Duration, 0.1)

	in, got := b.probe(t, original), b.probe(t, out)
	require.Equal(t, 1, got.count("video"))
	require.Equal(t, 1, got.count("audio"))
	require.Equal(t, 1, got.count("subtitle"))
	for _, s := range got.Streams {
		switch s.CodecType {
		case "video": // copied
			require.Equal(t, in.Streams[0].CodecName, s.CodecName)
			require.Equal(t, 320, s.Width)
			require.Equal(t, 240, s.Height)
			require.InDelta(t, in.Streams[0].Duration, s.Duration, 0.01)
		case "audio":
			require.Equal(t, "aac", s.CodecName)
			require.InDelta(t, 6, s.Duration, 0.1)
			require.Equal(t, "eng", s.Tags.Language)
		case "subtitle":
			require.Equal(t, "mov_text", s.CodecName)
			require.Equal(t, "eng", s.Tags.Language)
		}
	}

	// The captions read back as written.
	srt := filepath.Join(b.dir, "back.srt")
	b.ffmpeg(t, "-i", out, "-map", "0:s:0", srt)
	data, err := os.ReadFile(srt)
	require.NoError(t, err)
	back, err := captions.ParseSRT(data)
	require.NoError(t, err)
	want, err := captions.ParseSRT(captions.SRT(segs))
	require.NoError(t, err)
	require.Equal(t, want, back)

	lufs := b.loudness(t, out)
	t.Logf("integrated loudness %.1f LUFS", lufs)
	require.InDelta(t, -16, lufs, 1.5)

	// The tone is ducked while the voice speaks: compare the tone's level
	// before the first slot with its level in the silence after "Hello."
	// (short ends by about 4.2 s; the slot runs to 5.5 s).
	levels := b.levels(t, out)
	before, under := mean(levels, 0.05, 0.35), mean(levels, 4.6, 5.3)
	t.Logf("tone %.1f dB before, %.1f dB under the slot", before, under)
	require.Less(t, under, before-12, "ducked under the voice")
	require.InDelta(t, before, mean(levels, 5.7, 5.95), 6, "back up after the slot")
}

func TestMixFitsLongClip(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		maxTempo float64
		tempo    float64 // want; 0: the exact fit d/slot
	}{
		{"capped and cut", 0, 1.25},
		{"chained atempo", 3, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			original := b.silentVideo(t)
			clip := b.speak(t, "long", "The quick brown fox jumps over the lazy dog, again and again.")
			clip.Start, clip.End = 1, 2.5
			wantTempo := tt.tempo
			if wantTempo == 0 {
				wantTempo = clip.Duration / 1.5
				require.Greater(t, wantTempo, 2.0, "needs two atempo filters")
				require.Less(t, wantTempo, 3.0)
			}
			clip.Duration = 0 // Mix probes it
			out := filepath.Join(b.dir, "out.mp4")

			res, err := mix.Mix(t.Context(), b.runner, mix.Input{
				Original: original, OriginalType: "video/mp4", HasVideo: true, Clips: []mix.Clip{clip}, Out: out, MaxTempo: tt.maxTempo,
			}, media.RunOptions{})
			require.NoError(t, err)
			require.InDelta(t, wantTempo, res.Tempos[0], 1e-6)
			require.LessOrEqual(t, res.Tempos[0], max(tt.maxTempo, mix.DefaultMaxTempo))

			from, to := span(b.levels(t, out))
			t.Logf("tempo %.3f: voice from %.2f s to %.2f s, slot 1.00-2.50 s", res.Tempos[0], from, to)
			require.GreaterOrEqual(t, from, 1.0-0.01, "voice starts in its slot")
			require.LessOrEqual(t, to, 2.5+0.05, "voice ends within slot + 50 ms")
			require.Greater(t, to, 2.2, "voice fills its slot")
			require.InDelta(t, 6, b.probe(t, out).Format.Duration, 0.1)
		})
	}
}

func TestMixAudioOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	original := filepath.Join(b.dir, "original.mp3")
	b.ffmpeg(t, "-f", "lavfi", "-i", "sine=f=220:d=6:r=44100", "-c:a", "libmp3lame", original)
	clip := b.speak(t, "hello", "Hello there.")
	clip.Start, clip.End = 1, 3
	out := filepath.Join(b.dir, "out.m4a")

	res, err := mix.Mix(t.Context(), b.runner, mix.Input{
		Original: original, OriginalType: "audio/mpeg",
		Clips:    []mix.Clip{clip},
		Captions: b.srt(t, []captions.Segment{{Start: 1, End: 3, Text: "Hello there."}}),
		Language: "pt-BR",
		Out:      out,
	}, media.RunOptions{})
	require.NoError(t, err)
	require.InDelta(t, 6, res.Duration, 0.1)

	got := b.probe(t, out)
	require.Equal(t, 0, got.count("video"))
	require.Equal(t, 1, got.count("audio"))
	require.Equal(t, 1, got.count("subtitle"))
	require.Equal(t, "por", got.Streams[0].Tags.Language)
	require.InDelta(t, 6, got.Streams[0].Duration, 0.1)
	lufs := b.loudness(t, out)
	t.Logf("audio only: %.3f s, %.1f LUFS", got.Streams[0].Duration, lufs)
	require.InDelta(t, -16, lufs, 1.5)
}

func TestMixNoClips(t *testing.T) {
	t.Parallel()
	b := setup(t)
	original := b.video(t, true)
	empty := b.srt(t, nil) // a transcript of silence: no cues, no subtitle track
	out := filepath.Join(b.dir, "out.mp4")
	var progress []float64

	res, err := mix.Mix(t.Context(), b.runner, mix.Input{
		Original: original, OriginalType: "video/mp4", HasVideo: true, Captions: empty, Out: out, TargetLUFS: -20,
	}, media.RunOptions{OnProgress: func(p float64) { progress = append(progress, p) }})
	require.NoError(t, err)
	require.Empty(t, res.Tempos)
	require.InDelta(t, 6, res.Duration, 0.1)
	require.NotEmpty(t, progress)
	require.Equal(t, 100.0, progress[len(progress)-1])

	got := b.probe(t, out)
	require.Equal(t, 1, got.count("video"))
	require.Equal(t, 1, got.count("audio"))
	require.Equal(t, 0, got.count("subtitle"))
	lufs := b.loudness(t, out)
	t.Logf("no clips: %.3f s, %.1f LUFS (target -20)", res.Duration, lufs)
	require.InDelta(t, -20, lufs, 1.5)
}

func TestMixVideoWithoutSound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	original := b.video(t, false)
	clip := b.speak(t, "hello", "Hello there.")
	clip.Start, clip.End = 2, 4
	out := filepath.Join(b.dir, "out.mp4")

	res, err := mix.Mix(t.Context(), b.runner, mix.Input{
		Original: original, OriginalType: "video/mp4", HasVideo: true, Clips: []mix.Clip{clip}, Out: out,
	}, media.RunOptions{})
	require.NoError(t, err)
	require.InDelta(t, 6, res.Duration, 0.1)
	got := b.probe(t, out)
	require.Equal(t, 1, got.count("audio"))
	from, to := span(b.levels(t, out))
	require.InDelta(t, 2, from, 0.1)
	require.LessOrEqual(t, to, 4.05)
}

func TestMixSpeechWAV(t *testing.T) {
	t.Parallel()
	b := setup(t)
	original := b.video(t, false) // the WAV stands in for the original's sound
	speech := filepath.Join(b.dir, "speech.wav")
	b.ffmpeg(t, "-f", "lavfi", "-i", "sine=f=300:d=6:r=16000", "-ac", "1", "-c:a", "pcm_s16le", speech)
	clip := b.speak(t, "hello", "Hello there.")
	clip.Start, clip.End = 2, 4
	out := filepath.Join(b.dir, "out.mp4")

	res, err := mix.Mix(t.Context(), b.runner, mix.Input{
		Original: original, OriginalType: "video/mp4", HasVideo: true, Speech: speech, Clips: []mix.Clip{clip}, Out: out,
	}, media.RunOptions{})
	require.NoError(t, err)
	require.InDelta(t, 6, res.Duration, 0.1)
	levels := b.levels(t, out)
	require.Greater(t, mean(levels, 0.2, 1.5), -30.0, "the speech WAV is the background")
	lufs := b.loudness(t, out)
	t.Logf("speech WAV background: %.1f LUFS", lufs)
	require.InDelta(t, -16, lufs, 1.5)
}

func TestMixRefusesBadInput(t *testing.T) {
	t.Parallel()
	r := &media.Runner{FFmpeg: "/nonexistent/ffmpeg", FFprobe: "/nonexistent/ffprobe"}
	for name, in := range map[string]mix.Input{
		"no original":       {Out: "x.m4a"},
		"no content type":   {Original: "a.mp3", Out: "x.m4a"},
		"unknown type":      {Original: "a.mp3", OriginalType: "text/html", Out: "x.m4a"},
		"video to m4a":      {Original: "a.mp4", OriginalType: "video/mp4", HasVideo: true, Out: "x.m4a"},
		"audio to mp4":      {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.mp4"},
		"tempo below 1":     {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", MaxTempo: 0.8},
		"tempo above 4":     {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", MaxTempo: 5},
		"duck up":           {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", DuckDB: 6},
		"too loud":          {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", TargetLUFS: 0.5},
		"empty slot":        {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", Clips: []mix.Clip{{Path: "c.wav", Start: 2, End: 2}}},
		"negative start":    {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", Clips: []mix.Clip{{Path: "c.wav", Start: -1, End: 2}}},
		"NaN slot":          {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", Clips: []mix.Clip{{Path: "c.wav", Start: math.NaN(), End: 2}}},
		"no clip path":      {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", Clips: []mix.Clip{{Start: 1, End: 2}}},
		"negative duration": {Original: "a.mp3", OriginalType: "audio/mpeg", Out: "x.m4a", Clips: []mix.Clip{{Path: "c.wav", Start: 1, End: 2, Duration: -1}}},
	} {
		_, err := mix.Mix(t.Context(), r, in, media.RunOptions{})
		require.Error(t, err, name)
		var ee *media.ExecError
		require.NotErrorAs(t, err, &ee, "%s: refused before running anything", name)
	}
}
