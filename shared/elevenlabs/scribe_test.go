package elevenlabs_test

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/provider"
)

func wav(t *testing.T, seconds int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "speech.wav")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"sine=frequency=300:duration="+strconv.Itoa(seconds), "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", p).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return p
}

// Scribe gets a multipart upload with the options, and its diarized words
// come back with speakers and times.
func TestScribeTranscribesWithSpeakers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.SetScript([]elevenlabstest.Line{
		{Speaker: "speaker_0", Text: "Good morning, everyone.", Start: 0.2, End: 1.8},
		{Speaker: "speaker_1", Text: "Hi there. Nice to see you.", Start: 2.1, End: 4.5},
	})
	b.fake.FailNext(1, elevenlabstest.RateLimit(2*time.Second))
	b.fake.FailNext(1, elevenlabstest.ServerError())
	tr, u, err := b.client.Transcribe(t.Context(), wav(t, 5), elevenlabs.TranscribeRequest{Diarize: true, NumSpeakers: 2, Keyterms: []string{"redub", "Scribe"}})
	require.NoError(t, err)
	require.Equal(t, 3, b.fake.STTCalls(), "a 429 and a 500 are retried")
	require.Equal(t, []time.Duration{2 * time.Second}, b.waits.all()[:1], "Retry-After is honoured")
	reqs := b.fake.STTRequests()
	require.Len(t, reqs, 1)
	require.Equal(t, elevenlabstest.STTRequest{ModelID: "scribe_v2", Granularity: "word", Diarize: true, NumSpeakers: 2,
		Keyterms: []string{"redub", "Scribe"}, Filename: "speech.wav", FileBytes: reqs[0].FileBytes}, reqs[0])
	require.Greater(t, reqs[0].FileBytes, 150_000, "the whole file was uploaded")
	speakers := map[string]int{}
	for _, w := range tr.Words {
		if w.Type == "word" {
			speakers[w.SpeakerID]++
			require.Less(t, w.Start, w.End)
		}
	}
	require.Equal(t, map[string]int{"speaker_0": 3, "speaker_1": 6}, speakers)
	require.InDelta(t, 4.5, u.AudioSeconds, 0.3)
}

func TestScribeRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, err := b.client.Transcribe(t.Context(), wav(t, 1), elevenlabs.TranscribeRequest{Keyterms: make([]string, 101)})
	require.Error(t, err)
	require.Zero(t, b.fake.STTCalls(), "refused before any request")

	b.fake.FailNext(1, elevenlabstest.Unauthorized())
	_, _, err = b.client.Transcribe(t.Context(), wav(t, 1), elevenlabs.TranscribeRequest{})
	var pe *provider.Error
	require.ErrorAs(t, err, &pe)
	require.True(t, pe.Permanent)
	require.Equal(t, http.StatusUnauthorized, pe.Status)
	require.Equal(t, 1, b.fake.STTCalls())
}

// A clone is made from samples and deleted; deleting it twice is not an error.
func TestVoiceCloneLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, err := b.client.AddVoice(t.Context(), "job x speaker 1", []string{wav(t, 2), wav(t, 3)})
	require.NoError(t, err)
	require.Equal(t, []elevenlabstest.Clone{{VoiceID: id, Name: "job x speaker 1", Samples: 2}}, b.fake.Clones())
	require.NoError(t, b.client.DeleteVoice(t.Context(), id))
	require.NoError(t, b.client.DeleteVoice(t.Context(), id))
	require.True(t, b.fake.Clones()[0].Deleted)
}
