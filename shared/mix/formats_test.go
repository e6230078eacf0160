package mix_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/mix"
)

// TestEveryFormatThroughEveryRecipe takes one small upload of each kind the
// upload API accepts through the media operations of every recipe, read the
// way the steps read it (by its declared content type, under a name without
// an extension, as the steps download it): the ingest probe, the transcode
// renditions (transcode, and the speech WAV that captions transcribes) and
// the voiceover mix with a synthesized clip. Each output is checked with
// ffprobe.
func TestEveryFormatThroughEveryRecipe(t *testing.T) {
	t.Parallel()
	const seconds = 2.0
	video := []string{"-f", "lavfi", "-i", "testsrc2=s=176x144:r=15", "-f", "lavfi", "-i", "sine=f=220:r=44100", "-t", "2"}
	audio := []string{"-f", "lavfi", "-i", "sine=f=220:r=44100", "-t", "2"}
	x264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	cases := []struct {
		name, contentType string
		args              []string
	}{
		{"MP4", "video/mp4", slices.Concat(video, x264, []string{"-c:a", "aac", "-f", "mp4"})},
		{"MOV", "video/quicktime", slices.Concat(video, x264, []string{"-c:a", "pcm_s16le", "-f", "mov"})},
		{"M4V", "video/x-m4v", slices.Concat(video, x264, []string{"-c:a", "aac", "-f", "mp4"})},
		{"3GP", "video/3gpp", slices.Concat(video, []string{"-c:v", "h263", "-c:a", "aac", "-ar", "16000", "-f", "3gp"})},
		{"WebM", "video/webm", slices.Concat(video, []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus", "-f", "webm"})},
		{"Matroska", "video/x-matroska", slices.Concat(video, []string{"-c:v", "mpeg4", "-c:a", "libmp3lame", "-f", "matroska"})},
		{"AVI", "video/x-msvideo", slices.Concat(video, []string{"-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-c:a", "pcm_s16le", "-f", "avi"})},
		{"MPEG-PS", "video/mpeg", slices.Concat(video, []string{"-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob"})},
		{"Ogg video", "video/ogg", slices.Concat(video, []string{"-c:v", "libtheora", "-c:a", "libvorbis", "-f", "ogg"})},
		{"MP3", "audio/mpeg", slices.Concat(audio, []string{"-c:a", "libmp3lame", "-f", "mp3"})},
		{"WAV", "audio/wav", slices.Concat(audio, []string{"-c:a", "pcm_s16le", "-f", "wav"})},
		{"M4A", "audio/mp4", slices.Concat(audio, []string{"-c:a", "aac", "-f", "ipod"})},
		{"raw AAC", "audio/aac", slices.Concat(audio, []string{"-c:a", "aac", "-f", "adts"})},
		{"Ogg Opus", "audio/ogg", slices.Concat(audio, []string{"-c:a", "libopus", "-f", "ogg"})},
		{"FLAC", "audio/flac", slices.Concat(audio, []string{"-c:a", "flac", "-f", "flac"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := t.Context()
			src := filepath.Join(b.dir, "source") // no extension, as the steps save it
			b.ffmpeg(t, append(c.args, src)...)
			isVideo := strings.HasPrefix(c.contentType, "video/")

			// Ingest.
			info, err := b.runner.Probe(ctx, src, c.contentType, media.Limits{})
			require.NoError(t, err)
			require.InDelta(t, seconds, info.Duration.Seconds(), 0.15)
			require.NotNil(t, info.Audio)
			require.Equal(t, isVideo, info.Video != nil)

			// Transcode: the renditions every recipe starts with.
			rend, err := b.runner.Transcode(ctx, src, c.contentType, info, filepath.Join(b.dir, "transcode"), media.RunOptions{})
			require.NoError(t, err)
			wav := b.probe(t, rend.WAV)
			require.Equal(t, 1, wav.count("audio"))
			require.Equal(t, "pcm_s16le", wav.Streams[0].CodecName)
			require.InDelta(t, seconds, wav.Format.Duration, 0.15)
			if isVideo {
				mp4 := b.probe(t, rend.MP4)
				require.Equal(t, []string{"h264", "aac"}, codecNames(mp4))
				require.Equal(t, 176, mp4.Streams[0].Width)
				require.InDelta(t, seconds, mp4.Format.Duration, 0.2)
				poster := b.probe(t, rend.Poster)
				require.Equal(t, "mjpeg", poster.Streams[0].CodecName)
			} else {
				m4a := b.probe(t, rend.M4A)
				require.Equal(t, []string{"aac"}, codecNames(m4a))
				require.InDelta(t, seconds, m4a.Format.Duration, 0.15)
			}

			// The speech WAV straight from the upload.
			speech := filepath.Join(b.dir, "extracted.wav")
			require.NoError(t, b.runner.ExtractWAV(ctx, src, c.contentType, speech, media.RunOptions{}))
			require.InDelta(t, seconds, b.probe(t, speech).Format.Duration, 0.15)

			// Voiceover: the upload's sound under a new voice.
			clip := filepath.Join(b.dir, "clip-0000.mp3")
			b.ffmpeg(t, "-f", "lavfi", "-i", "sine=f=660:r=44100:d=0.8", "-c:a", "libmp3lame", clip)
			srt := filepath.Join(b.dir, "captions.srt")
			require.NoError(t, os.WriteFile(srt, captions.SRT([]captions.Segment{{Start: 0.5, End: 1.5, Text: "Hola."}}), 0o600))
			out := filepath.Join(b.dir, "voiceover.m4a")
			if isVideo {
				out = filepath.Join(b.dir, "voiceover.mp4")
			}
			picture := "" // as the mix step does: the rendition's picture when the original's cannot be copied
			if isVideo && !media.CopiesIntoMP4(info.Video.Codec) {
				picture = rend.MP4
			}
			res, err := mix.Mix(ctx, b.runner, mix.Input{Original: src, OriginalType: c.contentType, Probed: &info,
				HasVideo: isVideo, Picture: picture, Clips: []mix.Clip{{Start: 0.5, End: 1.5, Path: clip}}, Captions: srt,
				Language: "es", Out: out}, media.RunOptions{})
			require.NoError(t, err)
			mixed := b.probe(t, res.Out)
			want := []string{"aac", "mov_text"}
			if isVideo {
				want = []string{"h264", "aac", "mov_text"}
			}
			require.Equal(t, want, codecNames(mixed))
			require.InDelta(t, seconds, mixed.Format.Duration, 0.2)
		})
	}
}

func codecNames(p probed) []string {
	var names []string
	for _, s := range p.Streams {
		names = append(names, s.CodecName)
	}
	return names
}

// TestMixEncodesVideoItCannotCopy mixes a WebM (VP8, which MP4 players do
// not take) without a rendition to copy the picture from: the video is
// encoded to H.264.
func TestMixEncodesVideoItCannotCopy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	src := filepath.Join(b.dir, "source")
	b.ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=176x144:r=15", "-f", "lavfi", "-i", "sine=f=220:r=48000", "-t", "2",
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus", "-f", "webm", src)
	clip := filepath.Join(b.dir, "clip.wav")
	b.ffmpeg(t, "-f", "lavfi", "-i", "sine=f=660:r=44100:d=0.8", clip)
	out := filepath.Join(b.dir, "voiceover.mp4")
	res, err := mix.Mix(t.Context(), b.runner, mix.Input{Original: src, OriginalType: "video/webm", HasVideo: true,
		Clips: []mix.Clip{{Start: 0.5, End: 1.5, Path: clip}}, Out: out}, media.RunOptions{})
	require.NoError(t, err)
	mixed := b.probe(t, res.Out)
	require.Equal(t, []string{"h264", "aac"}, codecNames(mixed))
	require.Equal(t, 176, mixed.Streams[0].Width)
}
