package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/openai/openaitest"
)

// Voice cloning is opt-in with consent: without it the request is refused
// and nothing reaches ElevenLabs; with it each speaker is cloned from the
// source, speaks with the clone, and the clones are gone when the job ends.
func TestCloneVoices(t *testing.T) {
	t.Parallel()
	el := elevenlabstest.New(t)
	e := start(t, map[string]string{"ELEVENLABS_API_KEY": el.APIKey, "ELEVENLABS_BASE_URL": el.URL})
	token, _ := e.login(t, "clone@example.com")
	dir := t.TempDir()
	src, script := dialogue(t, dir, twoSpeakerTurns())
	el.SetScript(script)
	data, err := os.ReadFile(src)
	require.NoError(t, err)

	r := e.do(t, call{method: "POST", path: "/uploads", token: token, body: map[string]any{"filename": "dialogue.mp4", "content_type": "video/mp4",
		"size_bytes": len(data), "recipe": "voiceover", "params": map[string]any{"clone_voices": true}}})
	require.Equal(t, 400, r.Status, string(r.Body))
	require.Contains(t, string(r.Body), "clone_consent")
	require.Empty(t, el.Clones(), "nothing was cloned")
	require.Zero(t, el.STTCalls())

	asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover",
		"params": map[string]any{"clone_voices": true, "clone_consent": true}})
	j := e.waitJob(t, token, e.jobOf(t, token, asset), 4*time.Minute)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	clones := el.Clones()
	require.Len(t, clones, 2, "one clone per speaker")
	ids := map[string]bool{}
	for _, c := range clones {
		require.True(t, c.Deleted, "clone %s was deleted after the job", c.VoiceID)
		require.Equal(t, 1, c.Samples)
		ids[c.VoiceID] = true
	}
	used := map[string]bool{}
	for _, req := range el.Requests() {
		used[req.VoiceID] = true
	}
	require.Equal(t, ids, used, "every line was spoken by a clone, and both clones spoke")
}

// With only OPENAI_API_KEY set, auto transcribes with OpenAI.
func TestAutoPicksOpenAI(t *testing.T) {
	t.Parallel()
	oa := openaitest.New(t)
	e := start(t, map[string]string{"OPENAI_API_KEY": oa.APIKey, "OPENAI_BASE_URL": oa.URL})
	token, _ := e.login(t, "auto@example.com")
	dir := t.TempDir()
	asset := e.uploadFile(t, token, sample(t, dir, 5), "video/mp4", map[string]any{"recipe": "captions"})
	j := e.waitJob(t, token, e.jobOf(t, token, asset), 3*time.Minute)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	require.Equal(t, 1, oa.Calls().Transcriptions)
	var tr transcriptFile
	path := filepath.Join(dir, "t.json")
	e.fetch(t, token, outputsByKind(j)["transcript"], path)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &tr))
	require.Equal(t, "openai", tr.Engine)
}
