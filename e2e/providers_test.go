package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/openai/openaitest"
)

// With provider keys, the steps use the real clients against in-process
// servers that speak the providers' APIs.
func TestPaidProviders(t *testing.T) {
	t.Parallel()
	oa := openaitest.New(t)
	el := elevenlabstest.New(t)
	e := start(t, map[string]string{
		"OPENAI_API_KEY": oa.APIKey, "OPENAI_BASE_URL": oa.URL,
		"ELEVENLABS_API_KEY": el.APIKey, "ELEVENLABS_BASE_URL": el.URL,
		"TRANSCRIBE_ENGINE": "openai", // what this test drills is whisper-1 through the ledger
	}) // the template's visibility timeouts and the default lease: recovery must not depend on either being short
	token, _ := e.login(t, "payer@example.com")
	dir := t.TempDir()
	src := sample(t, dir, 8)

	t.Run("a killed step comes back once and pays once per segment", func(t *testing.T) {
		el.SetDelay(700 * time.Millisecond)
		defer el.SetDelay(0)
		asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover", "params": map[string]any{"target_language": "es"}})
		id := e.jobOf(t, token, asset)
		require.Eventually(t, func() bool {
			j := e.job(t, token, id)
			for _, s := range j.Steps {
				if s.Name == "synthesize" && s.Status == "running" && el.Calls() >= 2 {
					return true
				}
			}
			return j.Status == "failed"
		}, 2*time.Minute, 50*time.Millisecond)
		callsAtKill := el.Calls()
		require.True(t, e.killFunction(t, "SynthesizeFunction", "synthesize"), "the synthesize process was found and killed")
		killed := time.Now()
		// The queue's visibility timeout is 5400 s: only the sweeper, finding
		// the dead worker's lease expired, can bring the step back this soon.
		j := e.waitJob(t, token, id, 4*time.Minute)
		require.Equal(t, "succeeded", j.Status, "%+v", j)
		t.Logf("killed synthesize: job succeeded %.0f s later", time.Since(killed).Seconds())
		var attempts int
		for _, s := range j.Steps {
			if s.Name == "synthesize" {
				attempts = s.Attempts
			}
		}
		require.GreaterOrEqual(t, attempts, 2, "the step was started again after its worker died")

		var segments, paid int
		require.NoError(t, e.db.QueryRow(context.Background(), `SELECT (usage->>'clips')::int FROM job_steps WHERE job_id = $1 AND step = 'synthesize'`, id).Scan(&segments))
		require.NoError(t, e.db.QueryRow(context.Background(), `SELECT count(*) FROM provider_calls
			WHERE job_id = $1 AND provider = 'elevenlabs' AND status = 'succeeded'`, id).Scan(&paid))
		require.Positive(t, segments)
		require.Equal(t, segments, paid, "one recorded call per segment in the ledger")
		// What the provider saw: each segment once, except those in flight at
		// the kill (segments are voiced ELEVENLABS_CONCURRENCY at a time),
		// whose answers the dead worker never recorded.
		require.GreaterOrEqual(t, el.Calls(), segments)
		require.LessOrEqual(t, el.Calls(), segments+config.DefaultElevenLabsConcurrency, "calls at the fake: %d at the kill, %d segments", callsAtKill, segments)
		var voiceovers int
		require.NoError(t, e.db.QueryRow(context.Background(), `SELECT count(*) FROM outputs WHERE job_id = $1 AND kind = 'voiceover'`, id).Scan(&voiceovers))
		require.Equal(t, 1, voiceovers, "one set of outputs")
	})

	// Each case has its own audio: the ledger would otherwise reuse the
	// transcription paid for above instead of calling the provider.
	t.Run("429 then 200 succeeds", func(t *testing.T) {
		before := oa.Calls().Transcriptions
		oa.FailNext(1, openaitest.RateLimit(3*time.Second))
		asset := e.uploadFile(t, token, sample(t, t.TempDir(), 7), "video/mp4", map[string]any{"recipe": "captions"})
		id := e.jobOf(t, token, asset)
		j := e.waitJob(t, token, id, 2*time.Minute)
		require.Equal(t, "succeeded", j.Status, "%+v", j)
		for _, s := range j.Steps {
			if s.Name == "transcribe" && s.StartedAt != nil && s.FinishedAt != nil {
				t.Logf("429 with Retry-After: 3, then 200: transcribe took %.1f s", s.FinishedAt.Sub(*s.StartedAt).Seconds())
			}
		}
		require.Equal(t, before+2, oa.Calls().Transcriptions, "one refused with 429, then one answered")
	})

	t.Run("401 fails the job with a clear reason", func(t *testing.T) {
		oa.FailNext(1, openaitest.Unauthorized())
		asset := e.uploadFile(t, token, sample(t, t.TempDir(), 5), "video/mp4", map[string]any{"recipe": "captions"})
		j := e.waitJob(t, token, e.jobOf(t, token, asset), 2*time.Minute)
		require.Equal(t, "failed", j.Status)
		require.NotNil(t, j.Error)
		require.Contains(t, *j.Error, "refused this service's API key")
		require.Contains(t, *j.Error, "support id ", "the details are in the logs")
		require.NotContains(t, *j.Error, "OPENAI_API_KEY", "no variable names for the person")
		require.NotContains(t, *j.Error, oa.APIKey)
	})
}
