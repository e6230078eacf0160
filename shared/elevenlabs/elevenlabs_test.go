package elevenlabs_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/provider"
)

// waits records the waits the client asks for instead of sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

type bundle struct {
	fake   *elevenlabstest.Server
	client *elevenlabs.Client
	waits  *waits
}

func setup(t *testing.T) bundle {
	t.Helper()
	fake := elevenlabstest.New(t)
	w := &waits{}
	c := elevenlabs.New(fake.URL, fake.APIKey, fake.Client())
	c.Policy.Sleep = w.sleep
	return bundle{fake: fake, client: c, waits: w}
}

// probe is what ffprobe says of an audio file.
type probe struct {
	Format   string
	Codec    string
	Rate     int
	Duration float64
}

func ffprobe(t *testing.T, audio []byte) probe {
	t.Helper()
	path := filepath.Join(t.TempDir(), "speech.mp3")
	require.NoError(t, os.WriteFile(path, audio, 0o600))
	out, err := exec.CommandContext(t.Context(), "ffprobe", "-v", "error", "-show_entries",
		"format=format_name,duration:stream=codec_name,sample_rate", "-of", "json", path).Output()
	require.NoError(t, err)
	var v struct {
		Streams []struct {
			CodecName  string `json:"codec_name"`
			SampleRate string `json:"sample_rate"`
		} `json:"streams"`
		Format struct {
			FormatName string `json:"format_name"`
			Duration   string `json:"duration"`
		} `json:"format"`
	}
	require.NoError(t, json.Unmarshal(out, &v))
	require.Len(t, v.Streams, 1)
	rate, _ := strconv.Atoi(v.Streams[0].SampleRate)
	d, _ := strconv.ParseFloat(v.Format.Duration, 64)
	return probe{Format: v.Format.FormatName, Codec: v.Streams[0].CodecName, Rate: rate, Duration: d}
}

func asError(t *testing.T, err error) *provider.Error {
	t.Helper()
	e, ok := errors.AsType[*provider.Error](err)
	require.True(t, ok, "want *provider.Error, got %T: %v", err, err)
	return e
}

const line = "Hola, bienvenidos al programa de esta semana."

func TestSynthesize(t *testing.T) {
	t.Parallel()
	b := setup(t)
	audio, usage, err := b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{
		Text: line, PreviousText: "Buenas noches.", NextText: "Empezamos.",
	})
	require.NoError(t, err)

	p := ffprobe(t, audio)
	require.Equal(t, "mp3", p.Format)
	require.Equal(t, "mp3", p.Codec)
	require.Equal(t, 44100, p.Rate)
	require.Greater(t, p.Duration, 1.0, "a sentence takes more than a second to say")
	require.Less(t, p.Duration, 10.0)

	require.Equal(t, utf8.RuneCountInString(line), usage.Characters)
	require.NotEmpty(t, usage.RequestID)
	require.Equal(t, usage.Characters, b.fake.Characters())
	require.Equal(t, 1, b.fake.Calls())

	// The request has the documented shape.
	reqs := b.fake.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, elevenlabs.DefaultVoiceID, reqs[0].VoiceID)
	require.Equal(t, "mp3_44100_128", reqs[0].OutputFormat)
	require.Equal(t, "audio/mpeg", reqs[0].Accept)
	require.JSONEq(t, `{"text":"`+line+`","model_id":"eleven_multilingual_v2","previous_text":"Buenas noches.","next_text":"Empezamos."}`, string(reqs[0].Body))
}

func TestSynthesizeOptions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	audio, usage, err := b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{
		VoiceID: "pNInz6obpgDQGcFmaJgB", ModelID: "eleven_flash_v2_5", Text: "Short. ¿Qué?", OutputFormat: "mp3_22050_32",
	})
	require.NoError(t, err)
	require.Equal(t, 22050, ffprobe(t, audio).Rate)
	require.Equal(t, 12, usage.Characters, "characters, not bytes")

	r := b.fake.Requests()[0]
	require.Equal(t, "pNInz6obpgDQGcFmaJgB", r.VoiceID)
	require.Equal(t, "mp3_22050_32", r.OutputFormat)
	require.JSONEq(t, `{"text":"Short. ¿Qué?","model_id":"eleven_flash_v2_5"}`, string(r.Body), "empty context is left out")
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(2, elevenlabstest.RateLimit(3*time.Second))
	audio, _, err := b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Again."})
	require.NoError(t, err)
	require.NotEmpty(t, audio)
	require.Equal(t, 3, b.fake.Calls())
	require.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, b.waits.all())
	require.Equal(t, 6, b.fake.Characters(), "failed attempts are not billed")
}

func TestServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(3, elevenlabstest.ServerError())
	_, _, err := b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Again."})
	require.NoError(t, err)
	require.Equal(t, 4, b.fake.Calls())
	w := b.waits.all()
	require.Len(t, w, 3)
	for i, d := range w {
		require.LessOrEqual(t, d, (500*time.Millisecond)<<i, "full jitter under BaseDelay*2^n")
	}
}

func TestPersistentServerError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(10, elevenlabstest.ServerError())
	_, _, err := b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Again."})
	e := asError(t, err)
	require.False(t, e.Permanent)
	require.Equal(t, 500, e.Status)
	require.Equal(t, "internal_error", e.Code)
	require.Equal(t, 4, b.fake.Calls())
	require.Zero(t, b.fake.Characters())
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const badKey = "sk_0123456789abcdef0123456789abcdef"
	c := elevenlabs.New(b.fake.URL+"/", badKey, b.fake.Client())
	c.Policy.Sleep = b.waits.sleep
	_, _, err := c.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Hello."})
	e := asError(t, err)
	require.True(t, e.Permanent)
	require.Equal(t, 401, e.Status)
	require.Equal(t, "invalid_api_key", e.Code)
	require.Contains(t, err.Error(), "ElevenLabs refused the API key (401): check ELEVENLABS_API_KEY")
	require.NotContains(t, err.Error(), badKey)
	require.Equal(t, 1, b.fake.Calls())
	require.Empty(t, b.waits.all())

	_, _, err = elevenlabs.New(b.fake.URL, "", nil).Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Hello."})
	require.ErrorIs(t, err, elevenlabs.ErrNoKey)
}

func TestQuotaExceededIsPermanent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(1, elevenlabstest.QuotaExceeded())
	_, _, err := b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Hello."})
	e := asError(t, err)
	require.True(t, e.Permanent)
	require.Equal(t, "quota_exceeded", e.Code)
	require.Contains(t, err.Error(), "out of quota or credits")
	require.NotContains(t, err.Error(), "refused the API key")
	require.Equal(t, 1, b.fake.Calls())
}

func TestSlowAnswerRespectsDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.SetDelay(10 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := b.client.Synthesize(ctx, elevenlabs.SpeechRequest{Text: "Hello."})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestNotAudioIsAnError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.NotAudioNext(1)
	audio, _, err := b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Hello."})
	require.Nil(t, audio)
	e := asError(t, err)
	require.Equal(t, "not_audio", e.Code)
	require.Contains(t, err.Error(), `"text/html; charset=utf-8" instead of audio/mpeg`)
}

func TestRequestsTheAPIRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, _, err := b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "  "})
	require.ErrorContains(t, err, "no text")
	require.Zero(t, b.fake.Calls(), "checked before paying for a request")

	_, _, err = b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Hi.", VoiceID: "no-such-voice"})
	e := asError(t, err)
	require.True(t, e.Permanent)
	require.Equal(t, 404, e.Status)
	require.Equal(t, "voice_not_found", e.Code)

	_, _, err = b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Hi.", ModelID: "eleven_nonexistent"})
	require.Equal(t, "model_not_found", asError(t, err).Code)

	_, _, err = b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: strings.Repeat("a", 10_001)})
	require.Equal(t, "max_character_limit_exceeded", asError(t, err).Code)

	_, _, err = b.client.Synthesize(t.Context(), elevenlabs.SpeechRequest{Text: "Hi.", OutputFormat: "mp3_8000_8"})
	e = asError(t, err)
	require.Equal(t, 422, e.Status)
	require.Equal(t, "validation_error", e.Code)
	require.Contains(t, e.Message, "query.output_format")

	require.Equal(t, 4, b.fake.Calls())
	require.Empty(t, b.waits.all())
	require.Zero(t, b.fake.Characters())
}
