package e2e_test

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/pgstack"
	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/openai/openaitest"
)

// BenchmarkRecovery runs each fault drill with the template's queue settings
// and the default lease, and reports, as the p50 of its runs (b.N; 5 for
// docs/benchmarks.md), the seconds from the fault's end to the job's end:
//
//   - killed-s-p50: synthesize is SIGKILLed mid-run (its step must be
//     restarted by the sweeper once its lease expires);
//
//   - freeze-s-p50: the stack's own PgBouncer is SIGSTOPped for 20 s while
//     transcode runs;
//
//   - ratelimit-s-p50: transcription gets a 429 with Retry-After: 3, then a
//     200 (from the 429's answer to the job's end).
//
//     go run ./cmd/redub db run -- go test -run '^$' -bench Recovery -benchtime 5x -timeout 60m ./e2e
func BenchmarkRecovery(b *testing.B) {
	ctx := context.Background()
	pg, err := pgstack.Start(ctx, pgstack.Options{Dir: b.TempDir()})
	require.NoError(b, err)
	b.Cleanup(func() { _ = pg.Stop(context.Background()) })
	oa, el := openaitest.New(b), elevenlabstest.New(b)
	e := start(b, map[string]string{
		"DATABASE_URL": pg.PooledURL, "DATABASE_URL_UNPOOLED": pg.DirectURL,
		"OPENAI_API_KEY": oa.APIKey, "OPENAI_BASE_URL": oa.URL, "ELEVENLABS_API_KEY": el.APIKey, "ELEVENLABS_BASE_URL": el.URL,
		"TRANSCRIBE_ENGINE": "openai", // the drills measure whisper-1 recovery, as before Scribe
	})
	var killed, frozen, limited []float64
	n := 0
	for b.Loop() {
		n++
		// A user per run: the ledger would otherwise reuse the last run's
		// voice lines (the fakes answer alike) and nothing would be in flight.
		token, _ := e.login(b, fmt.Sprintf("drills-%d@example.com", n))
		// Killed synthesize. Each run has its own audio, so nothing is reused.
		el.SetDelay(700 * time.Millisecond)
		asset := e.uploadFile(b, token, sample(b, b.TempDir(), 8+n), "video/mp4", map[string]any{"recipe": "voiceover", "params": map[string]any{"target_language": "es"}})
		id := e.jobOf(b, token, asset)
		before := el.Calls()
		require.Eventually(b, func() bool { return el.Calls() >= before+2 }, 3*time.Minute, 50*time.Millisecond)
		require.True(b, e.killFunction(b, "SynthesizeFunction", "synthesize"))
		at := time.Now()
		j := e.waitJob(b, token, id, 5*time.Minute)
		require.Equal(b, "succeeded", j.Status)
		killed = append(killed, time.Since(at).Seconds())
		el.SetDelay(0)

		// The pooler frozen for 20 s during transcode.
		asset = e.uploadFile(b, token, sample(b, b.TempDir(), 40+n), "video/mp4", map[string]any{"recipe": "transcode"})
		id = e.jobOf(b, token, asset)
		require.Eventually(b, func() bool {
			for _, s := range e.job(b, token, id).Steps {
				if s.Name == "transcode" && s.Status == "running" {
					return true
				}
			}
			return false
		}, 2*time.Minute, 100*time.Millisecond)
		require.NoError(b, syscall.Kill(pg.BouncerPID(), syscall.SIGSTOP))
		time.Sleep(20 * time.Second)
		require.NoError(b, syscall.Kill(pg.BouncerPID(), syscall.SIGCONT))
		at = time.Now()
		j = e.waitJob(b, token, id, 5*time.Minute)
		require.Equal(b, "succeeded", j.Status)
		frozen = append(frozen, time.Since(at).Seconds())

		// A 429 with Retry-After: 3, then a 200.
		oa.FailNext(1, openaitest.RateLimit(3*time.Second))
		calls := oa.Calls().Transcriptions
		asset = e.uploadFile(b, token, sample(b, b.TempDir(), 5+n), "video/mp4", map[string]any{"recipe": "captions"})
		id = e.jobOf(b, token, asset)
		require.Eventually(b, func() bool { return oa.Calls().Transcriptions > calls }, 3*time.Minute, 20*time.Millisecond)
		at = time.Now()
		j = e.waitJob(b, token, id, 3*time.Minute)
		require.Equal(b, "succeeded", j.Status)
		limited = append(limited, time.Since(at).Seconds())
	}
	b.ReportMetric(median(killed), "killed-s-p50")
	b.ReportMetric(median(frozen), "freeze-s-p50")
	b.ReportMetric(median(limited), "ratelimit-s-p50")
	b.Logf("killed %v; frozen %v; 429 %v (seconds from the fault's end to the job's end)", killed, frozen, limited)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
