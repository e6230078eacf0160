package speech_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/speech"
)

// The Scribe engine labels speakers "Speaker 1", "Speaker 2" in order of
// Scribe's ids, splits at sentence ends and speaker changes, and reports the
// audio's own length.
func TestScribeEngine(t *testing.T) {
	t.Parallel()
	fake := elevenlabstest.New(t)
	fake.SetScript([]elevenlabstest.Line{
		{Speaker: "speaker_0", Text: "Hello there. How are you?", Start: 0.2, End: 2},
		{Speaker: "speaker_1", Text: "Fine, thanks.", Start: 2.4, End: 3.5},
	})
	wav := filepath.Join(t.TempDir(), "a.wav")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
		"-t", "4", "-c:a", "pcm_s16le", wav).CombinedOutput()
	require.NoError(t, err, "%s", out)
	e := &speech.Scribe{Client: elevenlabs.New(fake.URL, fake.APIKey, fake.Client())}
	tr, u, err := e.Transcribe(t.Context(), wav, speech.Request{NumSpeakers: 2, Keyterms: []string{"Fine"}})
	require.NoError(t, err)
	require.Equal(t, "en", tr.Language, "Scribe's eng becomes en")
	require.Equal(t, "elevenlabs", tr.Engine)
	require.InDelta(t, 4, tr.Duration, 0.01)
	require.InDelta(t, 4, u.AudioSeconds, 0.01)
	var got [][2]string
	for _, s := range tr.Segments {
		got = append(got, [2]string{s.Speaker, s.Text})
		require.NotEmpty(t, s.Words)
		for _, w := range s.Words {
			require.Equal(t, s.Speaker, w.Speaker)
		}
	}
	require.Equal(t, [][2]string{{"Speaker 1", "Hello there."}, {"Speaker 1", "How are you?"}, {"Speaker 2", "Fine, thanks."}}, got)
	req := fake.STTRequests()[0]
	require.True(t, req.Diarize)
	require.Equal(t, 2, req.NumSpeakers)
	require.Equal(t, []string{"Fine"}, req.Keyterms)
}
