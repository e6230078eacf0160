package speech_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/speech"
)

type engines struct {
	espeak *speech.Espeak
	sphinx *speech.Pocketsphinx
	ffmpeg string
}

// setup finds the real engines; the test is skipped when one is missing
// (`bash scripts/deps.sh ffmpeg espeak-ng pocketsphinx pocketsphinx-en-us`).
func setup(t *testing.T) engines {
	t.Helper()
	var e engines
	var err error
	if e.espeak, err = speech.NewEspeak(""); err != nil {
		t.Skip(err)
	}
	if e.sphinx, err = speech.NewPocketsphinx(""); err != nil {
		t.Skip(err)
	}
	if e.ffmpeg, err = exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	return e
}

// to16k converts any audio to the 16 kHz mono WAV the transcribe step gets.
func (e engines) to16k(t *testing.T, in []byte) string {
	t.Helper()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "in.wav"), filepath.Join(dir, "speech16k.wav")
	require.NoError(t, os.WriteFile(src, in, 0o600))
	out, err := exec.CommandContext(t.Context(), e.ffmpeg, "-nostdin", "-v", "error", "-y",
		"-i", src, "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", dst).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return dst
}

func readWAV(t *testing.T, b []byte) speech.WAV {
	t.Helper()
	w, err := speech.ReadWAV(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	return w
}

func TestEspeakThenPocketsphinx(t *testing.T) {
	t.Parallel()
	e := setup(t)

	start := time.Now()
	audio, format, usage, err := e.espeak.Synthesize(t.Context(), speech.SpeechRequest{Text: "Hello world. This is a test.", Language: "en-US"})
	synth := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, "wav", format)
	require.Equal(t, len("Hello world. This is a test."), usage.Characters)

	wav := e.to16k(t, audio)
	start = time.Now()
	tr, tusage, err := e.sphinx.Transcribe(t.Context(), wav, speech.Request{Language: "en"})
	recog := time.Since(start)
	require.NoError(t, err)
	t.Logf("espeak-ng: %.2f s of speech in %s; pocketsphinx: %.1fx realtime (%s); heard %+v",
		usage.AudioSeconds, synth.Round(time.Millisecond), tr.Duration/recog.Seconds(), recog.Round(time.Millisecond), tr.Segments)

	require.Equal(t, speech.EnginePocketsphinx, tr.Engine)
	require.Equal(t, "en", tr.Language)
	require.InDelta(t, usage.AudioSeconds, tr.Duration, 0.05)
	require.InDelta(t, tr.Duration, tusage.AudioSeconds, 1e-9)
	require.NotEmpty(t, tr.Segments)
	prevEnd := 0.0
	for i, s := range tr.Segments {
		require.Equal(t, i, s.ID)
		require.NotEmpty(t, strings.TrimSpace(s.Text))
		require.GreaterOrEqual(t, s.Start, prevEnd)
		require.Greater(t, s.End, s.Start)
		require.LessOrEqual(t, s.End, tr.Duration)
		prevEnd = s.End
	}
}

func TestPocketsphinxSilence(t *testing.T) {
	t.Parallel()
	e := setup(t)
	dir := t.TempDir()

	silent := filepath.Join(dir, "silence.wav")
	out, err := exec.CommandContext(t.Context(), e.ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
		"-t", "3", "-c:a", "pcm_s16le", silent).CombinedOutput()
	require.NoError(t, err, "%s", out)
	tr, usage, err := e.sphinx.Transcribe(t.Context(), silent, speech.Request{Language: ""})
	require.NoError(t, err)
	require.Empty(t, tr.Segments)
	require.NotNil(t, tr.Segments, "an empty list, so the transcript JSON says [] rather than null")
	require.InDelta(t, 3, tr.Duration, 0.01)
	require.InDelta(t, 3, usage.AudioSeconds, 0.01)

	empty := filepath.Join(dir, "empty.wav")
	require.NoError(t, os.WriteFile(empty, wavBytes(1, 1, 16000, 16, 0, nil), 0o600))
	tr, _, err = e.sphinx.Transcribe(t.Context(), empty, speech.Request{Language: "en"})
	require.NoError(t, err)
	require.Empty(t, tr.Segments)
	require.Zero(t, tr.Duration)
}

func TestPocketsphinxRefuses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	dir := t.TempDir()

	audio, _, _, err := e.espeak.Synthesize(t.Context(), speech.SpeechRequest{Text: "twenty two kilohertz"})
	require.NoError(t, err)
	at22k := filepath.Join(dir, "22k.wav")
	require.NoError(t, os.WriteFile(at22k, audio, 0o600))
	_, _, err = e.sphinx.Transcribe(t.Context(), at22k, speech.Request{Language: "en"})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
	require.ErrorContains(t, err, "22050 Hz")

	notWAV := filepath.Join(dir, "song.wav")
	require.NoError(t, os.WriteFile(notWAV, []byte("ID3 not a wav at all"), 0o600))
	_, _, err = e.sphinx.Transcribe(t.Context(), notWAV, speech.Request{Language: "en"})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
	require.ErrorIs(t, err, speech.ErrNotWAV)

	_, _, err = e.sphinx.Transcribe(t.Context(), filepath.Join(dir, "missing.wav"), speech.Request{Language: "en"})
	require.ErrorIs(t, err, os.ErrNotExist)

	_, _, err = e.sphinx.Transcribe(t.Context(), at22k, speech.Request{Language: "fr-FR"})
	require.Equal(t, apperr.Unprocessable, apperr.CodeOf(err), "%v", err)
	require.ErrorContains(t, err, "OPENAI_API_KEY")
}

func TestPocketsphinxStopsWithContext(t *testing.T) {
	t.Parallel()
	e := setup(t)
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20)
	audio, _, _, err := e.espeak.Synthesize(t.Context(), speech.SpeechRequest{Text: text})
	require.NoError(t, err)
	wav := e.to16k(t, audio)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = e.sphinx.Transcribe(ctx, wav, speech.Request{Language: "en"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestEspeakWAVGrowsWithText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var prev float64
	for _, text := range []string{"Hi.", "Hello world. This is a test.", strings.Repeat("Hello world. This is a longer test. ", 5)} {
		audio, format, usage, err := e.espeak.Synthesize(t.Context(), speech.SpeechRequest{Text: text, Language: "en"})
		require.NoError(t, err)
		require.Equal(t, "wav", format)
		w := readWAV(t, audio)
		require.True(t, w.IsPCM16Mono(22050), "%+v", w)
		require.Equal(t, int64(len(audio)), w.DataOffset+w.DataSize, "the header's sizes are the real ones")
		require.InDelta(t, w.Duration(), usage.AudioSeconds, 1e-9)
		require.Greater(t, w.Duration(), prev, "%q", text)
		require.Equal(t, len(strings.TrimSpace(text)), usage.Characters)
		prev = w.Duration()
	}
}

func TestEspeakVoice(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for lang, want := range map[string]string{
		"": "en", "en": "en", "en-US": "en-us", "pt_BR": "pt-br", "fr-CA": "fr", "fr": "fr", "de": "de", "zh": "zh",
		"xx-unknown": "en", "-v evil": "en", "en; rm -rf /": "en",
	} {
		require.Equal(t, want, e.espeak.Voice(lang), "%q", lang)
	}
	audio, _, _, err := e.espeak.Synthesize(t.Context(), speech.SpeechRequest{Text: "Bonjour tout le monde.", Language: "fr-CA"})
	require.NoError(t, err)
	require.Greater(t, readWAV(t, audio).Duration(), 0.5)
}

func TestEspeakHostileText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	dir := t.TempDir()
	victim := filepath.Join(dir, "pwned")
	for _, text := range []string{
		"$(touch " + victim + ") `touch " + victim + "`; touch " + victim + " | touch " + victim + " && touch " + victim,
		"-v evil",
		"-w " + victim,
		"--compile=en",
		"--help",
		"-f /etc/passwd",
		`<speak><audio src="file:///etc/passwd"/></speak>`,
		"nul\x00byte and \x1b[31mescapes\x1b[0m and \xff\xfe invalid UTF-8",
		"[[h@l'oU]] phonemes",
	} {
		audio, _, usage, err := e.espeak.Synthesize(t.Context(), speech.SpeechRequest{Text: text, Language: "en"})
		require.NoError(t, err, "%q", text)
		require.Greater(t, readWAV(t, audio).Duration(), 0.2, "%q is spoken, not obeyed", text)
		require.Positive(t, usage.Characters)
		require.NoFileExists(t, victim)
	}

	long := strings.Repeat("All work and no play makes Jack a dull boy. ", 2000) // 88,000 characters
	start := time.Now()
	audio, _, usage, err := e.espeak.Synthesize(t.Context(), speech.SpeechRequest{Text: long})
	require.NoError(t, err)
	require.LessOrEqual(t, usage.Characters, speech.EspeakMaxChars)
	require.Greater(t, usage.Characters, speech.EspeakMaxChars-50)
	t.Logf("espeak-ng: %d characters, %.0f s of speech in %s", usage.Characters, readWAV(t, audio).Duration(), time.Since(start).Round(time.Millisecond))

	for _, text := range []string{"", "   \n\t ", "\x00\x01\x02"} {
		_, _, _, err := e.espeak.Synthesize(t.Context(), speech.SpeechRequest{Text: text})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%q: %v", text, err)
	}
}

func TestMissingEngines(t *testing.T) {
	t.Parallel()
	_, err := speech.NewEspeak(filepath.Join(t.TempDir(), "espeak-ng"))
	require.ErrorContains(t, err, "Debian package espeak-ng")
	_, err = speech.NewPocketsphinx(filepath.Join(t.TempDir(), "pocketsphinx_continuous"))
	require.ErrorContains(t, err, "pocketsphinx-en-us")
	require.False(t, errors.Is(err, context.Canceled))
}
