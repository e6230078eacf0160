package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/openai"
	"github.com/redub/redub/shared/openai/openaitest"
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
	fake   *openaitest.Server
	client *openai.Client
	waits  *waits
}

func setup(t *testing.T) bundle {
	t.Helper()
	fake := openaitest.New(t)
	w := &waits{}
	c := openai.New(fake.URL+"/", fake.APIKey, fake.Client())
	c.Policy.Sleep = w.sleep
	return bundle{fake: fake, client: c, waits: w}
}

// audio writes seconds of a 16 kHz mono tone as a WAV file.
func audio(t *testing.T, seconds float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "speech.wav")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("sine=frequency=440:duration=%g", seconds), "-ar", "16000", "-ac", "1", path).CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)
	return path
}

func asError(t *testing.T, err error) *provider.Error {
	t.Helper()
	e, ok := errors.AsType[*provider.Error](err)
	require.True(t, ok, "want *provider.Error, got %T: %v", err, err)
	return e
}

func TestTranscribe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := audio(t, 5)
	tr, usage, err := b.client.Transcribe(t.Context(), path, openai.TranscribeRequest{Language: "es"})
	require.NoError(t, err)

	require.Equal(t, "spanish", tr.Language)
	require.InDelta(t, 5, tr.Duration, 0.05)
	require.Equal(t, "segment 0 segment 1 segment 2", tr.Text)
	require.Len(t, tr.Segments, 3)
	for i, s := range tr.Segments {
		require.Equal(t, i, s.ID)
		require.Equal(t, fmt.Sprintf("segment %d", i), s.Text, "texts are trimmed")
		require.InDelta(t, 2*float64(i), s.Start, 1e-9)
	}
	require.InDelta(t, 5, tr.Segments[2].End, 0.05)
	require.InDelta(t, 5, usage.AudioSeconds, 0.05)

	// The upload has the documented shape.
	up := b.fake.Uploads()
	require.Len(t, up, 1)
	require.Equal(t, map[string][]string{
		"model":                     {"whisper-1"},
		"response_format":           {"verbose_json"},
		"timestamp_granularities[]": {"segment"},
		"language":                  {"es"},
	}, up[0].Fields)
	require.Equal(t, "speech.wav", up[0].FileName)
	require.Equal(t, "audio/wav", up[0].ContentType)
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, info.Size(), up[0].Size)
	require.Equal(t, "Bearer "+b.fake.APIKey, up[0].Auth)
	require.Equal(t, openaitest.Calls{Transcriptions: 1}, b.fake.Calls())
}

func TestTranscribeOptionalFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, err := b.client.Transcribe(t.Context(), audio(t, 1), openai.TranscribeRequest{Prompt: "Redub, ffmpeg."})
	require.NoError(t, err)
	f := b.fake.Uploads()[0].Fields
	require.NotContains(t, f, "language")
	require.Equal(t, []string{"Redub, ffmpeg."}, f["prompt"])
}

func TestTranscribeRefusesBadFilesBeforeSending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()

	big := filepath.Join(dir, "long.wav")
	f, err := os.Create(big)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(openai.MaxUploadBytes+1))
	require.NoError(t, f.Close())
	_, _, err = b.client.Transcribe(t.Context(), big, openai.TranscribeRequest{})
	require.ErrorIs(t, err, openai.ErrTooLarge)

	_, _, err = b.client.Transcribe(t.Context(), filepath.Join(dir, "notes.txt"), openai.TranscribeRequest{})
	require.ErrorContains(t, err, `does not accept ".txt"`)

	_, _, err = b.client.Transcribe(t.Context(), filepath.Join(dir, "missing.mp3"), openai.TranscribeRequest{})
	require.ErrorIs(t, err, os.ErrNotExist)

	require.Zero(t, b.fake.Calls().Transcriptions)
}

func TestTranscribeNotAudio(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := filepath.Join(t.TempDir(), "fake.wav")
	require.NoError(t, os.WriteFile(path, []byte("this is not audio at all"), 0o600))
	_, _, err := b.client.Transcribe(t.Context(), path, openai.TranscribeRequest{})
	e := asError(t, err)
	require.True(t, e.Permanent)
	require.Equal(t, 400, e.Status)
	require.Contains(t, e.Error(), "Audio file might be corrupted")
	require.Equal(t, 1, b.fake.Calls().Transcriptions)
}

func TestTranscribeUnknownModel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, err := b.client.Transcribe(t.Context(), audio(t, 1), openai.TranscribeRequest{Model: "whisper-9"})
	e := asError(t, err)
	require.True(t, e.Permanent)
	require.Equal(t, 404, e.Status)
	require.Equal(t, "model_not_found", e.Code)
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(2, openaitest.RateLimit(1500*time.Millisecond))
	tr, _, err := b.client.Transcribe(t.Context(), audio(t, 3), openai.TranscribeRequest{})
	require.NoError(t, err)
	require.Len(t, tr.Segments, 2)
	require.Equal(t, 3, b.fake.Calls().Transcriptions)
	// retry-after-ms is more precise than Retry-After ("2") and wins.
	require.Equal(t, []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond}, b.waits.all())
}

func TestServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(2, openaitest.ServerError())
	_, _, err := b.client.Transcribe(t.Context(), audio(t, 1), openai.TranscribeRequest{})
	require.NoError(t, err)
	require.Equal(t, 3, b.fake.Calls().Transcriptions)
	w := b.waits.all()
	require.Len(t, w, 2)
	require.LessOrEqual(t, w[0], 500*time.Millisecond)
	require.LessOrEqual(t, w[1], time.Second)
}

func TestPersistentServerError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(10, openaitest.ServerError())
	_, _, err := b.client.Transcribe(t.Context(), audio(t, 1), openai.TranscribeRequest{})
	e := asError(t, err)
	require.False(t, e.Permanent)
	require.Equal(t, 500, e.Status)
	require.Equal(t, 4, e.Attempts)
	require.Equal(t, 4, b.fake.Calls().Transcriptions)
	require.Len(t, b.waits.all(), 3)
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const badKey = "sk-proj-wrongwrongwrong0123456789"
	c := openai.New(b.fake.URL, badKey, b.fake.Client())
	c.Policy.Sleep = b.waits.sleep

	_, _, err := c.Transcribe(t.Context(), audio(t, 1), openai.TranscribeRequest{})
	e := asError(t, err)
	require.True(t, e.Permanent)
	require.Equal(t, 401, e.Status)
	require.Equal(t, "invalid_api_key", e.Code)
	msg := err.Error()
	require.Contains(t, msg, "OpenAI refused the API key (401): check OPENAI_API_KEY")
	require.NotContains(t, msg, badKey)
	require.NotContains(t, msg, "sk-pr", "not even the masked key OpenAI quotes back")
	require.NotContains(t, msg, "6789")

	_, _, err = c.Translate(t.Context(), []openai.Segment{{ID: 1, Text: "hi"}}, openai.TranslateRequest{Target: "es"})
	require.True(t, provider.Permanent(err))
	require.Contains(t, err.Error(), "OPENAI_API_KEY")

	require.Equal(t, openaitest.Calls{Transcriptions: 1, ChatCompletions: 1}, b.fake.Calls())
	require.Empty(t, b.waits.all())

	_, _, err = openai.New(b.fake.URL, "", nil).Transcribe(t.Context(), "x.wav", openai.TranscribeRequest{})
	require.ErrorIs(t, err, openai.ErrNoKey)
}

func TestInsufficientQuotaIsPermanent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(1, openaitest.InsufficientQuota())
	_, _, err := b.client.Translate(t.Context(), []openai.Segment{{ID: 1, Text: "hi"}}, openai.TranslateRequest{Target: "es"})
	e := asError(t, err)
	require.True(t, e.Permanent)
	require.Equal(t, 429, e.Status)
	require.Contains(t, e.Error(), "out of quota")
	require.Equal(t, 1, b.fake.Calls().ChatCompletions)
}

func TestSlowAnswerRespectsDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.SetDelay(10 * time.Second)
	path := audio(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := b.client.Transcribe(ctx, path, openai.TranscribeRequest{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, 1, b.fake.Calls().Transcriptions)
}

func segments(n, textLen int) []openai.Segment {
	segs := make([]openai.Segment, n)
	for i := range segs {
		text := fmt.Sprintf("line %d ", i)
		text += strings.Repeat("x", max(0, textLen-len(text)))
		// Ids need not be dense or start at 0.
		segs[i] = openai.Segment{ID: 100 + 3*i, Start: 1.5 * float64(i), End: 1.5*float64(i) + 1.25, Text: text}
	}
	return segs
}

// chatBody is the part of a chat completion request the tests check.
type chatBody struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	ResponseFormat struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name   string         `json:"name"`
			Strict bool           `json:"strict"`
			Schema map[string]any `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

type sentSegment struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// sent returns what each chat request carried.
func sent(t *testing.T, fake *openaitest.Server) ([]chatBody, [][]sentSegment) {
	t.Helper()
	var bodies []chatBody
	var segs [][]sentSegment
	for _, raw := range fake.ChatRequests() {
		var body chatBody
		require.NoError(t, json.Unmarshal(raw, &body))
		require.Len(t, body.Messages, 2)
		var user struct {
			Segments []sentSegment `json:"segments"`
		}
		require.NoError(t, json.Unmarshal([]byte(body.Messages[1].Content), &user))
		bodies = append(bodies, body)
		segs = append(segs, user.Segments)
	}
	return bodies, segs
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := segments(3, 20)
	out, usage, err := b.client.Translate(t.Context(), in, openai.TranslateRequest{Source: "en", Target: "es"})
	require.NoError(t, err)
	require.Len(t, out, 3)
	for i := range in {
		require.Equal(t, in[i].ID, out[i].ID)
		require.Equal(t, in[i].Start, out[i].Start)
		require.Equal(t, in[i].End, out[i].End)
		require.Equal(t, "[es] "+in[i].Text, out[i].Text)
	}
	require.Positive(t, usage.PromptTokens)
	require.Positive(t, usage.CompletionTokens)
	require.Equal(t, "line 0 xxxxxxxxxxxxx", in[0].Text, "the input is not modified")

	// The request has the documented shape.
	bodies, segs := sent(t, b.fake)
	require.Len(t, bodies, 1)
	body := bodies[0]
	require.Equal(t, "gpt-4o-mini", body.Model)
	require.Equal(t, "system", body.Messages[0].Role)
	require.Contains(t, body.Messages[0].Content, "Target language: es")
	require.Equal(t, "user", body.Messages[1].Role)
	require.Equal(t, "json_schema", body.ResponseFormat.Type)
	require.True(t, body.ResponseFormat.JSONSchema.Strict)
	require.NotEmpty(t, body.ResponseFormat.JSONSchema.Name)
	require.Equal(t, "object", body.ResponseFormat.JSONSchema.Schema["type"])
	require.Equal(t, false, body.ResponseFormat.JSONSchema.Schema["additionalProperties"])
	require.Equal(t, []sentSegment{{100, in[0].Text}, {103, in[1].Text}, {106, in[2].Text}}, segs[0])
}

func TestTranslateChunks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.client.ChunkChars = 1000
	in := segments(40, 120) // 4800 characters: 5 requests of 8 segments
	in = append(in, openai.Segment{ID: 1, Start: 99, End: 100, Text: strings.Repeat("long ", 300)})
	out, usage, err := b.client.Translate(t.Context(), in, openai.TranslateRequest{Target: "fr", Model: "gpt-4.1-mini"})
	require.NoError(t, err)

	require.Len(t, out, len(in))
	for i := range in {
		require.Equal(t, in[i].ID, out[i].ID)
		require.Equal(t, in[i].Start, out[i].Start)
		require.Equal(t, in[i].End, out[i].End)
		require.Equal(t, "[fr] "+in[i].Text, out[i].Text)
	}

	bodies, chunks := sent(t, b.fake)
	require.Len(t, chunks, 6, "five chunks of eight, and the long segment alone")
	require.Equal(t, 6, b.fake.Calls().ChatCompletions)
	var ids []int
	for i, chunk := range chunks {
		require.Equal(t, "gpt-4.1-mini", bodies[i].Model)
		chars := 0
		for _, s := range chunk {
			ids = append(ids, s.ID)
			chars += len(s.Text)
		}
		if len(chunk) > 1 {
			require.LessOrEqual(t, chars, 1000)
		}
	}
	want := make([]int, len(in))
	for i := range in {
		want[i] = in[i].ID
	}
	require.Equal(t, want, ids, "every id sent once, in order")
	require.Positive(t, usage.PromptTokens)
}

func TestTranslateRetriesOneBadAnswer(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]openaitest.Corruption{
		"invalid JSON": openaitest.InvalidJSON,
		"missing id":   openaitest.MissingID,
		"extra id":     openaitest.ExtraID,
		"duplicate id": openaitest.DuplicateID,
		"cut off":      openaitest.CutOff,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.fake.CorruptNext(1, c)
			in := segments(4, 30)
			out, usage, err := b.client.Translate(t.Context(), in, openai.TranslateRequest{Target: "de"})
			require.NoError(t, err)
			require.Len(t, out, 4)
			for i := range in {
				require.Equal(t, in[i].ID, out[i].ID)
				require.Equal(t, "[de] "+in[i].Text, out[i].Text)
			}
			require.Equal(t, 2, b.fake.Calls().ChatCompletions)
			// Both answers were paid for.
			_, segs := sent(t, b.fake)
			require.Equal(t, segs[0], segs[1], "the same chunk was asked for again")
			require.Greater(t, usage.PromptTokens, 2*len(in))
			require.Empty(t, b.waits.all(), "no backoff: the HTTP call succeeded")
		})
	}
}

func TestTranslateFailsOnSecondBadAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.client.ChunkChars = 100
	b.fake.CorruptNext(2, openaitest.MissingID)
	in := segments(3, 30)
	out, usage, err := b.client.Translate(t.Context(), in, openai.TranslateRequest{Target: "de"})
	require.Nil(t, out)
	e := asError(t, err)
	require.Equal(t, openai.CodeInvalidAnswer, e.Code)
	require.Equal(t, 2, e.Attempts)
	require.False(t, e.Permanent)
	require.Contains(t, err.Error(), "missing id(s) 106")
	require.Contains(t, err.Error(), "translate segments 1-3 of 3")
	require.Equal(t, 2, b.fake.Calls().ChatCompletions)
	require.Positive(t, usage.PromptTokens, "what was paid is reported with the error")

	b = setup(t)
	b.fake.CorruptNext(2, openaitest.DuplicateID)
	_, _, err = b.client.Translate(t.Context(), in, openai.TranslateRequest{Target: "de"})
	require.Contains(t, err.Error(), "repeated id(s) 100")

	b = setup(t)
	b.fake.CorruptNext(1, openaitest.ExtraID)
	b.fake.CorruptNext(1, openaitest.InvalidJSON)
	_, _, err = b.client.Translate(t.Context(), in, openai.TranslateRequest{Target: "de"})
	require.Contains(t, err.Error(), "not the requested JSON")
}

func TestTranslateRefusalIsPermanent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.RefuseNext(1)
	_, _, err := b.client.Translate(t.Context(), segments(2, 10), openai.TranslateRequest{Target: "es"})
	e := asError(t, err)
	require.True(t, e.Permanent)
	require.Equal(t, "refusal", e.Code)
	require.Contains(t, err.Error(), "I'm sorry")
	require.Equal(t, 1, b.fake.Calls().ChatCompletions)
}

func TestTranslateRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.FailNext(1, openaitest.RateLimit(2*time.Second))
	out, _, err := b.client.Translate(t.Context(), segments(2, 10), openai.TranslateRequest{Target: "es"})
	require.NoError(t, err)
	require.Len(t, out, 2)
	require.Equal(t, []time.Duration{2 * time.Second}, b.waits.all())
	require.Equal(t, 2, b.fake.Calls().ChatCompletions)
}

func TestTranslateRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, err := b.client.Translate(t.Context(), segments(2, 10), openai.TranslateRequest{})
	require.ErrorContains(t, err, "no target language")
	_, _, err = b.client.Translate(t.Context(), []openai.Segment{{ID: 1}, {ID: 1}}, openai.TranslateRequest{Target: "es"})
	require.ErrorContains(t, err, "segment id 1 appears twice")
	out, usage, err := b.client.Translate(t.Context(), nil, openai.TranslateRequest{Target: "es"})
	require.NoError(t, err)
	require.Empty(t, out)
	require.Zero(t, usage)
	require.Zero(t, b.fake.Calls().ChatCompletions)
}
