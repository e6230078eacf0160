package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/script"
)

// Segments are voiced in parallel, never more at once than
// ELEVENLABS_CONCURRENCY, into the clips one after the other would give; a
// 429 whose Retry-After is longer than the client waits hands the step back
// with that delay, and its retry pays for no line twice.
func TestSynthesizeInParallel(t *testing.T) {
	t.Parallel()
	const limit = 3
	el := elevenlabstest.New(t)
	e := start(t, map[string]string{"ELEVENLABS_API_KEY": el.APIKey, "ELEVENLABS_BASE_URL": el.URL,
		"ELEVENLABS_CONCURRENCY": fmt.Sprint(limit)})
	token, _ := e.login(t, "parallel@example.com")
	dir := t.TempDir()
	src, lines := dialogue(t, dir, twoSpeakerTurns())
	el.SetScript(lines)

	asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover", "params": map[string]any{"num_speakers": 2}})
	id := e.jobOf(t, token, asset)
	// Once the transcript is in, slow the voice down so that segments
	// overlap, and refuse one of them with a wait longer than the client's
	// 20 s.
	require.Eventually(t, func() bool {
		for _, s := range e.job(t, token, id).Steps {
			if s.Name == "transcribe" && s.Status == "succeeded" {
				return true
			}
		}
		return false
	}, 3*time.Minute, 50*time.Millisecond)
	el.SetDelay(400 * time.Millisecond)
	el.FailNext(1, elevenlabstest.RateLimit(21*time.Second))
	j := e.waitJob(t, token, id, 4*time.Minute)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	for _, s := range j.Steps {
		if s.Name == "synthesize" {
			require.GreaterOrEqual(t, s.Attempts, 2, "the 429 handed the step back")
		}
	}

	var tr transcriptFile
	path := filepath.Join(dir, "transcript.json")
	e.fetch(t, token, outputsByKind(j)["transcript"], path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &tr))
	require.Len(t, tr.Segments, 5)
	require.LessOrEqual(t, el.MaxInFlight(), limit, "never more requests in flight than ELEVENLABS_CONCURRENCY")
	require.Greater(t, el.MaxInFlight(), 1, "segments were voiced in parallel")
	reqs := el.Requests()
	require.Len(t, reqs, len(tr.Segments), "each line paid for once, across both attempts")
	require.Equal(t, len(tr.Segments)+1, el.Calls(), "and one refused")

	// What was asked is what one segment after the other asks: each line
	// with its neighbours.
	type asked struct{ Text, Previous, Next string }
	var got, want []asked
	for _, r := range reqs {
		var b struct {
			Text     string `json:"text"`
			Previous string `json:"previous_text"`
			Next     string `json:"next_text"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &b))
		got = append(got, asked{b.Text, b.Previous, b.Next})
	}
	for i, s := range tr.Segments {
		a := asked{Text: s.Text}
		if i > 0 {
			a.Previous = tr.Segments[i-1].Text
		}
		if i+1 < len(tr.Segments) {
			a.Next = tr.Segments[i+1].Text
		}
		want = append(want, a)
	}
	require.ElementsMatch(t, want, got)

	// The manifest lists the clips in the segments' order, each under its
	// segment's key, one voice per speaker.
	bucket := e.st.Template().Buckets["MediaBucket"].Name
	key := script.Key(uuid.MustParse(id), 1, "synthesize", "clips.json")
	obj, err := e.st.S3().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	require.NoError(t, err)
	raw, err := io.ReadAll(obj.Body)
	_ = obj.Body.Close()
	require.NoError(t, err)
	var clips []script.Clip
	require.NoError(t, json.Unmarshal(raw, &clips))
	require.Len(t, clips, len(tr.Segments))
	voiceOf := map[string]string{}
	for i, c := range clips {
		s := tr.Segments[i]
		require.Equal(t, s.ID, c.ID, "clips in the segments' order")
		require.Equal(t, s.Text, c.Text)
		require.Equal(t, s.Speaker, c.Speaker)
		require.Greater(t, c.Duration, 0.0, "its length measured, so mix need not probe it")
		require.Equal(t, script.Key(uuid.MustParse(id), 1, "synthesize", fmt.Sprintf("seg-%04d.mp3", s.ID)), c.Key)
		if v, ok := voiceOf[c.Speaker]; ok {
			require.Equal(t, v, c.Voice, "one voice per speaker")
		}
		voiceOf[c.Speaker] = c.Voice
	}
	require.Len(t, voiceOf, 2)
	require.NotEqual(t, voiceOf["Speaker 1"], voiceOf["Speaker 2"])
}
