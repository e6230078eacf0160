package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/openai/openaitest"
)

// slotRun is one voiceover of the two-speaker source with a translator whose
// translations run 1.8x longer than the source.
type slotRun struct {
	tempos    []float64 // per segment: the final clip's length over its slot
	shortened int       // lines rewritten shorter
	stages    []string
	captions  string
	wall      time.Duration
}

func runSlots(t testing.TB, slotAware bool) slotRun {
	t.Helper()
	oa := openaitest.New(t)
	oa.SetWordy(1.8)
	el := elevenlabstest.New(t)
	vars := map[string]string{"OPENAI_API_KEY": oa.APIKey, "OPENAI_BASE_URL": oa.URL, "ELEVENLABS_API_KEY": el.APIKey, "ELEVENLABS_BASE_URL": el.URL}
	if !slotAware {
		vars["SLOT_AWARE_TRANSLATION"] = "false"
	}
	e := start(t, vars)
	token, _ := e.login(t, "slots@example.com")
	dir := t.TempDir()
	src, script := dialogue(t, dir, twoSpeakerTurns())
	el.SetScript(script)
	began := time.Now()
	asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover", "params": map[string]any{"target_language": "es", "keyterms": []string{"redub"}}})
	id := e.jobOf(t, token, asset)
	var run slotRun
	// Watch the synthesize step's stages as a person would.
	deadline := time.Now().Add(4 * time.Minute)
	var j jobView
	for time.Now().Before(deadline) {
		var raw struct {
			Status string
			Steps  []struct{ Name, Stage string }
		}
		e.do(t, call{method: "GET", path: "/jobs/" + id, token: token}).JSON(t, &raw)
		for _, s := range raw.Steps {
			if s.Name == "synthesize" && strings.HasPrefix(s.Stage, "shortening") && !contains(run.stages, s.Stage) {
				run.stages = append(run.stages, s.Stage)
			}
		}
		if raw.Status == "succeeded" || raw.Status == "failed" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	j = e.waitJob(t, token, id, time.Minute)
	run.wall = time.Since(began)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	require.NoError(t, e.db.QueryRow(context.Background(), `SELECT coalesce((usage->>'shortened')::int, 0) FROM job_steps WHERE job_id = $1 AND step = 'synthesize'`, id).Scan(&run.shortened))

	var tr transcriptFile
	path := filepath.Join(dir, "es.json")
	kind := "transcript.es"
	e.fetch(t, token, outputsByKind(j)[kind], path)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &tr))
	vtt := filepath.Join(dir, "es.vtt")
	e.fetch(t, token, outputsByKind(j)["vtt.es"], vtt)
	b, _ := os.ReadFile(vtt)
	run.captions = string(b)

	// The final clip of each segment is the fake's last answer for its final text.
	seconds := map[string]float64{}
	for _, r := range el.Requests() {
		var body struct{ Text string }
		require.NoError(t, json.Unmarshal(r.Body, &body))
		seconds[body.Text] = r.Seconds
	}
	for _, s := range tr.Segments {
		d, ok := seconds[s.Text]
		require.True(t, ok, "segment %d's text %q was voiced", s.ID, s.Text)
		run.tempos = append(run.tempos, d/(s.End-s.Start))
	}
	// Keyterms reach the translator with the slots.
	var sawSlots, sawTerms bool
	for _, c := range oa.ChatRequests() {
		sawSlots = sawSlots || strings.Contains(string(c), `\"max_chars\"`)
		sawTerms = sawTerms || strings.Contains(string(c), "Keep these terms exactly as written: redub")
	}
	require.Equal(t, slotAware, sawSlots, "segments go with their character budgets only when slot-aware")
	require.True(t, sawTerms, "keyterms go to translation")
	return run
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Translations longer than their slots are shortened, once, and then every
// segment of the test source fits within the 1.15x tempo bound; the
// captions say the shortened lines, and the step's progress said so.
func TestSlotAwareTranslation(t *testing.T) {
	t.Parallel()
	run := runSlots(t, true)
	t.Logf("tempos: %.2f; shortened %d; stages %q", run.tempos, run.shortened, run.stages)
	require.Positive(t, run.shortened, "the wordy translator's lines needed shortening")
	require.NotEmpty(t, run.stages, "progress said a line was being shortened")
	require.Contains(t, run.stages[0], "more than 1.15x")
	for i, tempo := range run.tempos {
		require.LessOrEqual(t, tempo, 1.15, "segment %d needs %.2fx", i, tempo)
	}
	require.Contains(t, run.captions, "<v Speaker 1>[es] ")
}

// BenchmarkSlotAware voices the two-speaker test source (5 segments) into
// Spanish with a fake translator whose translations run 1.8x the source's
// length (openaitest.SetWordy: the source's words repeated), with
// slot-aware translation off and on, and reports the share of segments
// whose clip needs more than 1.10x tempo to fit its slot, and the job's wall
// time.
//
//	go run ./cmd/redub db run -- go test -run '^$' -bench SlotAware -benchtime 1x ./e2e
func BenchmarkSlotAware(b *testing.B) {
	for b.Loop() {
		for _, on := range []bool{false, true} {
			run := runSlots(b, on)
			over := 0
			for _, tempo := range run.tempos {
				if tempo > 1.10 {
					over++
				}
			}
			name := map[bool]string{false: "off", true: "on"}[on]
			b.ReportMetric(float64(over)/float64(len(run.tempos)), "share-over-1.10x-"+name)
			b.ReportMetric(run.wall.Seconds(), "wall-s-"+name)
			b.ReportMetric(float64(run.shortened), "shortened-"+name)
			b.Logf("slot-aware %s: tempos %.2f", name, run.tempos)
		}
	}
}
