package e2e_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
	"github.com/redub/redub/shared/openai/openaitest"
)

type scriptView struct {
	Revision       int
	Language       string
	TargetLanguage string `json:"target_language"`
	Segments       []struct {
		N           int
		Speaker     string
		Start, End  float64
		Text        string
		Translation *string
		Voice       string
		Edited      bool
	}
}

// pcm decodes a file's audio to 16 kHz mono float samples.
func pcm(t testing.TB, path string) []float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", "16000", "-f", "s16le", "-").Output()
	require.NoError(t, err)
	s := make([]float64, len(out)/2)
	for i := range s {
		s[i] = float64(int16(binary.LittleEndian.Uint16(out[2*i:])))
	}
	return s
}

// correlation is the Pearson correlation of a and b over the samples where
// keep is true.
func correlation(a, b []float64, keep func(i int) bool) float64 {
	n := min(len(a), len(b))
	var sa, sb, saa, sbb, sab, k float64
	for i := range n {
		if !keep(i) {
			continue
		}
		sa, sb, saa, sbb, sab, k = sa+a[i], sb+b[i], saa+a[i]*a[i], sbb+b[i]*b[i], sab+a[i]*b[i], k+1
	}
	cov := sab/k - sa/k*sb/k
	return cov / math.Sqrt((saa/k-sa/k*sa/k)*(sbb/k-sb/k*sb/k))
}

// Edit one segment's translation and re-render: ElevenLabs gets exactly one
// new synthesis (the edited line), the audio outside that line is the
// previous revision's, the captions say the new line, and the previous
// revision's voiceover stays downloadable until the new one is done.
func TestEditAndRerender(t *testing.T) {
	t.Parallel()
	oa := openaitest.New(t)
	el := elevenlabstest.New(t)
	e := start(t, map[string]string{"OPENAI_API_KEY": oa.APIKey, "OPENAI_BASE_URL": oa.URL,
		"ELEVENLABS_API_KEY": el.APIKey, "ELEVENLABS_BASE_URL": el.URL})
	token, _ := e.login(t, "editor@example.com")
	other, _ := e.login(t, "stranger@example.com")
	dir := t.TempDir()
	src, script := dialogue(t, dir, twoSpeakerTurns())
	el.SetScript(script)

	asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover", "params": map[string]any{"target_language": "es"}})
	id := e.jobOf(t, token, asset)
	started := time.Now()
	j := e.waitJob(t, token, id, 4*time.Minute)
	firstRender := time.Since(started)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	first := filepath.Join(dir, "r1.mp4")
	e.fetch(t, token, outputsByKind(j)["voiceover"], first)
	paidFirst := len(el.Requests())

	var s scriptView
	r := e.do(t, call{method: "GET", path: "/jobs/" + id + "/transcript", token: token})
	require.Equal(t, 200, r.Status, string(r.Body))
	r.JSON(t, &s)
	require.Equal(t, 1, s.Revision)
	require.Equal(t, "es", s.TargetLanguage)
	require.Len(t, s.Segments, 5)
	for _, l := range s.Segments {
		require.NotNil(t, l.Translation)
		require.NotEmpty(t, l.Voice)
		require.NotEmpty(t, l.Speaker)
	}
	require.Equal(t, 404, e.do(t, call{method: "GET", path: "/jobs/" + id + "/transcript", token: other}).Status, "another user's job is not found")

	// Bad edits: times past a neighbour, an unknown segment, someone else's job.
	edited := s.Segments[1]
	tooLate := s.Segments[2].Start + 0.5
	require.Equal(t, 400, e.do(t, call{method: "PATCH", path: "/jobs/" + id + "/segments/1", token: token, body: map[string]any{"end": tooLate}}).Status)
	require.Equal(t, 404, e.do(t, call{method: "PATCH", path: "/jobs/" + id + "/segments/99", token: token, body: map[string]any{"translation": "Hola."}}).Status)
	require.Equal(t, 404, e.do(t, call{method: "PATCH", path: "/jobs/" + id + "/segments/1", token: other, body: map[string]any{"translation": "Hola."}}).Status)
	require.Equal(t, 409, e.do(t, call{method: "POST", path: "/jobs/" + id + "/rerender", token: token, headers: map[string]string{"Idempotency-Key": "nothing-yet"}}).Status,
		"nothing was edited yet")

	const line = "Gracias."
	r = e.do(t, call{method: "PATCH", path: "/jobs/" + id + "/segments/1", token: token, body: map[string]any{"translation": line}})
	require.Equal(t, 200, r.Status, string(r.Body))

	require.Equal(t, 400, e.do(t, call{method: "POST", path: "/jobs/" + id + "/rerender", token: token}).Status, "Idempotency-Key is required")
	key := map[string]string{"Idempotency-Key": "rerender-1"}
	r = e.do(t, call{method: "POST", path: "/jobs/" + id + "/rerender", token: token, headers: key})
	require.Equal(t, 202, r.Status, string(r.Body))
	rerendered := time.Now()
	// The previous revision's voiceover is still the job's output until the new one succeeds.
	kept := filepath.Join(dir, "kept.mp4")
	e.fetch(t, token, outputsByKind(e.job(t, token, id))["voiceover"], kept)
	b1, _ := os.ReadFile(first)
	bk, _ := os.ReadFile(kept)
	require.Equal(t, b1, bk, "the previous revision's voiceover is still downloadable")
	require.Equal(t, 200, e.do(t, call{method: "POST", path: "/jobs/" + id + "/rerender", token: token, headers: key}).Status, "the same key starts nothing new")

	j = e.waitJob(t, token, id, 4*time.Minute)
	rerender := time.Since(rerendered)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	reqs := el.Requests()
	require.Len(t, reqs, paidFirst+1, "exactly one new synthesis call")
	var body struct{ Text string }
	require.NoError(t, json.Unmarshal(reqs[len(reqs)-1].Body, &body))
	require.Equal(t, line, body.Text)
	require.Equal(t, edited.Voice, reqs[len(reqs)-1].VoiceID, "the speaker keeps its voice")

	second := filepath.Join(dir, "r2.mp4")
	e.fetch(t, token, outputsByKind(j)["voiceover"], second)
	a, b := pcm(t, first), pcm(t, second)
	lo, hi := int((edited.Start-0.05)*16000), int((edited.End+0.05)*16000)
	c := correlation(a, b, func(i int) bool { return i < lo || i > hi })
	t.Logf("correlation outside segment 1 (%.2f-%.2f s): %.5f; inside: %.3f", edited.Start, edited.End, c,
		correlation(a, b, func(i int) bool { return i >= lo && i <= hi }))
	require.GreaterOrEqual(t, c, 0.99)

	vtt := filepath.Join(dir, "r2.vtt")
	e.fetch(t, token, outputsByKind(j)["vtt.es"], vtt)
	got, err := os.ReadFile(vtt)
	require.NoError(t, err)
	require.Contains(t, string(got), "<v Speaker 2>"+line+"</v>")
	require.NotContains(t, string(got), strings.TrimSpace(*edited.Translation))

	r = e.do(t, call{method: "GET", path: "/jobs/" + id + "/transcript", token: token})
	r.JSON(t, &s)
	require.Equal(t, 2, s.Revision)
	require.Equal(t, line, *s.Segments[1].Translation)
	require.True(t, s.Segments[1].Edited)
	t.Logf("first render %.1f s with %d synthesis calls; re-render %.1f s with 1", firstRender.Seconds(), paidFirst, rerender.Seconds())
}

// BenchmarkRerender renders the two-speaker source into Spanish, edits one
// line and re-renders, and reports both renders' wall times (upload event
// to job success; rerender request to job success) and the synthesis calls
// each paid at ElevenLabs' fake.
//
//	go run ./cmd/redub db run -- go test -run '^$' -bench Rerender -benchtime 1x ./e2e
func BenchmarkRerender(b *testing.B) {
	oa := openaitest.New(b)
	el := elevenlabstest.New(b)
	e := start(b, map[string]string{"OPENAI_API_KEY": oa.APIKey, "OPENAI_BASE_URL": oa.URL,
		"ELEVENLABS_API_KEY": el.APIKey, "ELEVENLABS_BASE_URL": el.URL})
	token, _ := e.login(b, "bench-rerender@example.com")
	for i := 0; b.Loop(); i++ {
		dir := b.TempDir()
		src, script := dialogue(b, dir, twoSpeakerTurns())
		el.SetScript(script)
		before := len(el.Requests())
		began := time.Now()
		asset := e.uploadFile(b, token, src, "video/mp4", map[string]any{"recipe": "voiceover", "params": map[string]any{"target_language": "es"}})
		id := e.jobOf(b, token, asset)
		require.Equal(b, "succeeded", e.waitJob(b, token, id, 4*time.Minute).Status)
		first, firstCalls := time.Since(began), len(el.Requests())-before
		r := e.do(b, call{method: "PATCH", path: "/jobs/" + id + "/segments/1", token: token, body: map[string]any{"translation": fmt.Sprintf("Gracias %d.", i)}})
		require.Equal(b, 200, r.Status, string(r.Body))
		before, began = len(el.Requests()), time.Now()
		r = e.do(b, call{method: "POST", path: "/jobs/" + id + "/rerender", token: token, headers: map[string]string{"Idempotency-Key": fmt.Sprint("bench-", i)}})
		require.Equal(b, 202, r.Status, string(r.Body))
		require.Equal(b, "succeeded", e.waitJob(b, token, id, 4*time.Minute).Status)
		b.ReportMetric(first.Seconds(), "first-wall-s")
		b.ReportMetric(float64(firstCalls), "first-tts-calls")
		b.ReportMetric(time.Since(began).Seconds(), "rerender-wall-s")
		b.ReportMetric(float64(len(el.Requests())-before), "rerender-tts-calls")
	}
}
